"""A key's IP whitelist: ``/api/users/apikeys/{key_id}/whitelists``.

An addition locks its key's row first (``SELECT ... FOR UPDATE``; SQLite's
``BEGIN IMMEDIATE`` serialises writes anyway), so additions to one key run one
after another: the limit holds, and an address added twice at once is stored
once and answered 200 the second time, on every database.
"""

from __future__ import annotations

import ipaddress

from fastapi import APIRouter, Response

from sqlrecord.exceptions import DuplicateKeyError

from ..deps import IN_UNIT_OF_WORK, AppSettings, CurrentUser
from ..errors import InvalidIPError, MaxWhitelistCountError, ResourceNotFoundError
from ..models import ApiWhitelist
from ..schemas import RowId, WhitelistCreate, WhitelistOut
from .apikeys import ERRORS, owned_key

__all__ = ["normalise_ip", "router"]

router = APIRouter(
    prefix="/api/users/apikeys/{key_id}/whitelists",
    tags=["api keys"],
    dependencies=[IN_UNIT_OF_WORK],
)


def normalise_ip(value: str) -> str:
    """The canonical text of an IPv4 or IPv6 address; 400 ``4000006`` for anything else.

    Example:
        >>> normalise_ip("2001:DB8:0:0::1"), normalise_ip(" 10.0.0.1 ")
        ('2001:db8::1', '10.0.0.1')
    """
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError as error:
        raise InvalidIPError(value) from error


async def _existing(key_id: int, ip_addr: str) -> ApiWhitelist | None:
    # Locking reads here and in _entry_count: on MariaDB (REPEATABLE READ) a plain
    # SELECT reads the snapshot of the transaction's first read, from before the
    # key's lock was granted, and misses rows a concurrent request committed.
    query = ApiWhitelist.filter_by(api_key_id=key_id, ip_addr=ip_addr)
    return await query.for_update(read=True).populate_existing().first()


async def _entry_count(key_id: int) -> int:
    return len(await ApiWhitelist.filter_by(api_key_id=key_id).for_update(read=True).all())


@router.get("", responses=ERRORS)
async def list_whitelist(key_id: RowId, user: CurrentUser) -> list[WhitelistOut]:
    """The key's whitelisted addresses, oldest first."""
    key = await owned_key(user, key_id)
    rows = await ApiWhitelist.filter_by(api_key_id=key.id).order_by("id").all()
    return [WhitelistOut.model_validate(row) for row in rows]


_REMOVE = "remove_from_whitelist_api_users_apikeys__key_id__whitelists__list_id__delete"


@router.post(
    "",
    status_code=201,
    responses={
        **ERRORS,
        200: {"model": WhitelistOut, "description": "The address was whitelisted already."},
        201: {
            "links": {
                "RemoveFromWhitelist": {
                    "operationId": _REMOVE,
                    "parameters": {
                        "key_id": "$response.body#/api_key_id",
                        "list_id": "$response.body#/id",
                    },
                }
            }
        },
    },
)
async def add_to_whitelist(
    key_id: RowId,
    body: WhitelistCreate,
    user: CurrentUser,
    response: Response,
    settings: AppSettings,
) -> WhitelistOut:
    """Whitelist an address (201); an address already there is returned as it is (200)."""
    key = await owned_key(user, key_id, lock=True)  # additions to this key wait here
    ip_addr = normalise_ip(body.ip_addr)
    existing = await _existing(key.id, ip_addr)
    if existing is None:
        if await _entry_count(key.id) >= settings.max_whitelists:
            raise MaxWhitelistCountError(settings.max_whitelists)
        try:
            return WhitelistOut.model_validate(
                await ApiWhitelist.create(api_key_id=key.id, ip_addr=ip_addr)
            )
        except DuplicateKeyError:  # not expected under the lock; the savepoint kept the session
            existing = await _existing(key.id, ip_addr)
            if existing is None:
                raise
    response.status_code = 200
    return WhitelistOut.model_validate(existing)


@router.delete("/{list_id}", responses=ERRORS)
async def remove_from_whitelist(key_id: RowId, list_id: RowId, user: CurrentUser) -> dict[str, str]:
    """Remove one address from the key's whitelist."""
    key = await owned_key(user, key_id)
    entry = await ApiWhitelist.get(list_id)
    if entry is None or entry.api_key_id != key.id:
        raise ResourceNotFoundError(f"Key {key_id} has no whitelist entry with id {list_id}.")
    await entry.delete()
    return {"message": "ok"}
