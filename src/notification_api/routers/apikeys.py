"""The caller's API keys: ``/api/users/apikeys`` and ``/api/users/apikeys/{key_id}``."""

from __future__ import annotations

import secrets

from fastapi import APIRouter

from ..deps import IN_UNIT_OF_WORK, AppSettings, CurrentUser
from ..errors import MaxKeyCountError, NoKeyMatchError
from ..models import ApiKey, User
from ..schemas import ApiKeyCreate, ApiKeyCreated, ApiKeyOut, ApiKeyUpdate, ErrorOut, RowId

__all__ = ["ERRORS", "owned_key", "router"]

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


async def owned_key(user: User, key_id: int) -> ApiKey:
    """The caller's key ``key_id``; 404 ``4040003`` for a missing key or someone else's.

    Example:
        >>> import inspect
        >>> inspect.iscoroutinefunction(owned_key)
        True
    """
    key = await ApiKey.get(key_id)
    if key is None or key.user_id != user.id:
        raise NoKeyMatchError(key_id)  # the same answer for both: ids reveal nothing
    return key


async def _active_key_count(user: User) -> int:
    return await ApiKey.filter_by(user_id=user.id, status="active").count()


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
    if await _active_key_count(user) >= settings.max_api_keys:
        raise MaxKeyCountError(settings.max_api_keys)
    key = await ApiKey.create(
        user_id=user.id,
        access_key=secrets.token_hex(16),
        secret_key=secrets.token_urlsafe(30),
        user_memo=body.user_memo,
        allow_protected=True,
    )
    return ApiKeyCreated.model_validate(key)


@router.patch("/{key_id}", responses=ERRORS)
async def update_key(
    key_id: RowId,
    body: ApiKeyUpdate,
    user: CurrentUser,
    settings: AppSettings,
) -> ApiKeyOut:
    """Change the memo, or stop and restart the key (restarting counts toward the limit)."""
    key = await owned_key(user, key_id)
    changes = body.model_dump(exclude_unset=True, exclude_none=True)
    restarting = changes.get("status") == "active" and key.status != "active"
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
