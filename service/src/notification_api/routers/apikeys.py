"""The caller's API keys: ``/api/users/apikeys`` and ``/api/users/apikeys/{key_id}``.

The key limit holds under concurrency: a request that may add an active key
(create, or restart a stopped one) first locks its owner's row in the
request's transaction, so such requests of one user run one after another
(``SELECT ... FOR UPDATE``; on SQLite the unit of work's ``BEGIN IMMEDIATE``
serialises every write anyway), and counts with a locking read.
"""

from __future__ import annotations

import secrets

from fastapi import APIRouter

from ..deps import IN_UNIT_OF_WORK, AppSettings, CurrentUser
from ..errors import MaxKeyCountError, NoKeyMatchError, NotAuthorizedError
from ..models import ApiKey, User
from ..schemas import ApiKeyCreate, ApiKeyCreated, ApiKeyOut, ApiKeyUpdate, ErrorOut, RowId
from ..secrets_at_rest import secret_box

__all__ = ["ERRORS", "lock_owner", "owned_key", "router"]

router = APIRouter(prefix="/api/users/apikeys", tags=["api keys"], dependencies=[IN_UNIT_OF_WORK])
ERRORS: dict[int | str, dict[str, object]] = {
    400: {"model": ErrorOut},
    401: {"model": ErrorOut},
    404: {"model": ErrorOut},
    409: {"model": ErrorOut},  # a quota (keys, whitelist entries) is full
    422: {"model": ErrorOut},  # FastAPI's default 422 body is not what the handlers send
}
# OpenAPI links: what a client (and schemathesis' stateful tests) can do with a new key.
_KEY_ID = {"key_id": "$response.body#/id"}
_NEW_KEY_LINKS = {
    "UpdateKey": {"operationId": "update_key_api_users_apikeys__key_id__patch"},
    "DeleteKey": {"operationId": "delete_key_api_users_apikeys__key_id__delete"},
    "ListWhitelist": {"operationId": "list_whitelist_api_users_apikeys__key_id__whitelists_get"},
    "AddToWhitelist": {
        "operationId": "add_to_whitelist_api_users_apikeys__key_id__whitelists_post"
    },
}


async def owned_key(user: User, key_id: int, *, lock: bool = False) -> ApiKey:
    """The caller's key ``key_id``; 404 ``4040003`` for a missing key or someone else's.

    ``lock=True`` reads the row with ``SELECT ... FOR UPDATE`` and its current
    values: requests that change what hangs on the key (its whitelist) then run
    one at a time per key, until the request's commit.

    Example:
        >>> import inspect
        >>> inspect.iscoroutinefunction(owned_key)
        True
    """
    if lock:
        # populate_existing: the session may hold the key already, with values
        # read before the lock was granted.
        query = ApiKey.filter_by(id=key_id).for_update().populate_existing()
        key = await query.first()
    else:
        key = await ApiKey.get(key_id)
    if key is None or key.user_id != user.id:
        raise NoKeyMatchError(key_id)  # the same answer for both: ids reveal nothing
    return key


async def lock_owner(user: User) -> None:
    """Lock the user's row until the request's commit: one key-limit check at a time per user.

    401 ``4010001`` if the account was deleted meanwhile.

    Example:
        >>> import inspect
        >>> inspect.iscoroutinefunction(lock_owner)
        True
    """
    if await User.filter_by(id=user.id).for_update().first() is None:
        raise NotAuthorizedError("The account of this token no longer exists.")


async def _active_key_count(user: User) -> int:
    # A locking read (FOR SHARE), not count(): MariaDB's REPEATABLE READ answers
    # a plain SELECT from the snapshot of the transaction's first read, taken
    # before the owner's lock was granted, and would miss keys committed since.
    keys = await ApiKey.filter_by(user_id=user.id, status="active").for_update(read=True).all()
    return len(keys)


@router.get("", responses=ERRORS)
async def list_keys(user: CurrentUser) -> list[ApiKeyOut]:
    """The caller's keys, oldest first, without secrets."""
    keys = await ApiKey.filter_by(user_id=user.id).order_by("id").all()
    return [ApiKeyOut.model_validate(key) for key in keys]


@router.post(
    "",
    status_code=201,
    responses={
        **ERRORS,
        201: {
            "links": {
                name: {**link, "parameters": _KEY_ID} for name, link in _NEW_KEY_LINKS.items()
            }
        },
    },
)
async def create_key(
    body: ApiKeyCreate,
    user: CurrentUser,
    settings: AppSettings,
) -> ApiKeyCreated:
    """A new key pair; ``secret_key`` is in this response only (409 ``4090004`` past the limit)."""
    await lock_owner(user)
    if await _active_key_count(user) >= settings.max_api_keys:
        raise MaxKeyCountError(settings.max_api_keys)
    secret_key = secrets.token_urlsafe(30)
    key = await ApiKey.using(allow_protected=True).create(
        user_id=user.id,
        access_key=secrets.token_hex(16),
        secret_key=secret_box(settings).seal(secret_key),  # encrypted at rest
        user_memo=body.user_memo,
    )
    # The response is the one place the secret is shown, in clear.
    return ApiKeyCreated(**ApiKeyOut.model_validate(key).model_dump(), secret_key=secret_key)


@router.patch("/{key_id}", responses=ERRORS)
async def update_key(
    key_id: RowId,
    body: ApiKeyUpdate,
    user: CurrentUser,
    settings: AppSettings,
) -> ApiKeyOut:
    """Change the memo, or stop and restart the key (restarting counts toward the limit)."""
    changes = body.model_dump(exclude_unset=True, exclude_none=True)
    activating = changes.get("status") == "active"
    if activating:
        await lock_owner(user)  # before reading the key: its status may change meanwhile
    key = await owned_key(user, key_id, lock=activating)
    restarting = activating and key.status != "active"
    if restarting and await _active_key_count(user) >= settings.max_api_keys:
        raise MaxKeyCountError(settings.max_api_keys)
    await key.update(**changes)
    return ApiKeyOut.model_validate(key)


@router.delete("/{key_id}", responses=ERRORS)
async def delete_key(key_id: RowId, user: CurrentUser) -> dict[str, str]:
    """Delete the key with its whitelist and its notifications."""
    key = await owned_key(user, key_id)
    await key.delete()
    return {"message": "ok"}
