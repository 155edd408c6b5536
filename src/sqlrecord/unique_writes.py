"""``get_or_create``, ``update_or_create``, ``create_or_update``: safe under concurrency.

Two tasks racing on the same unique key both miss the row, both INSERT, and
one INSERT fails on the unique index. That one rolls back to its SAVEPOINT
and reads the winner's row with a locking read (``FOR UPDATE``), which sees
the latest committed version even under MySQL's REPEATABLE READ. Both tasks
end with the same row and no error. ``CRUDMixin`` exposes these as class
methods; this module holds the logic.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from ._scope import SessionScope
from .exceptions import DuplicateKeyError, InvalidFieldError
from .introspection import model_info
from .lookups import LOOKUP_SEPARATOR

__all__ = ["create_or_update", "get_or_create", "update_or_create"]


async def get_or_create(
    model: Any,
    defaults: Mapping[str, Any] | None,
    lookups: dict[str, Any],
    *,
    session: AsyncSession | None,
    auto_commit: bool,
) -> tuple[Any, bool]:
    """See :meth:`sqlrecord.CRUDMixin.get_or_create`.

    Example:
        >>> run(get_or_create(User, None, {"email": "kim@example.com"}, session=None,
        ...                   auto_commit=False))[1]
        True
    """
    _check_plain(model, lookups)
    async with SessionScope(model, session, write=True, auto_commit=auto_commit) as s:
        found = await _find(model, s, lookups, lock=False)
        if found is not None:
            return found, False
        try:
            created = await model.create(session=s, **lookups, **(defaults or {}))
        except DuplicateKeyError:
            found = await _find(model, s, lookups, lock=True)
            if found is None:
                raise
            return found, False
        return created, True


async def update_or_create(
    model: Any,
    defaults: Mapping[str, Any] | None,
    lookups: dict[str, Any],
    *,
    session: AsyncSession | None,
    auto_commit: bool,
) -> tuple[Any, bool]:
    """See :meth:`sqlrecord.CRUDMixin.update_or_create`.

    Example:
        >>> run(update_or_create(User, {"name": "K"}, {"email": "kim@example.com"},
        ...                      session=None, auto_commit=False))[0].name
        'K'
    """
    _check_plain(model, lookups)
    changes = dict(defaults or {})
    async with SessionScope(model, session, write=True, auto_commit=auto_commit) as s:
        found = await _find(model, s, lookups, lock=True)
        if found is None:
            try:
                created = await model.create(session=s, **lookups, **changes)
            except DuplicateKeyError:
                found = await _find(model, s, lookups, lock=True)
                if found is None:
                    raise
            else:
                return created, True
        if changes:
            await found.update(session=s, **changes)
        return found, False


async def create_or_update(
    model: Any, values: dict[str, Any], *, session: AsyncSession | None, auto_commit: bool
) -> Any:
    """See :meth:`sqlrecord.CRUDMixin.create_or_update`.

    Example:
        >>> run(create_or_update(User, {"email": "kim@example.com"}, session=None,
        ...                      auto_commit=False)).email
        'kim@example.com'
    """
    info = model_info(model)
    key = next((name for name in info.unique_names if values.get(name) is not None), None)
    if key is None:
        raise InvalidFieldError(
            f"create_or_update() needs a value for one of {model.__name__}'s primary-key or "
            f"unique columns ({', '.join(info.unique_names)}) to find the row by.",
            model=model.__name__,
            valid=info.unique_names,
        )
    rest = dict(values)
    lookups = {key: rest.pop(key)}
    row, _ = await update_or_create(model, rest, lookups, session=session, auto_commit=auto_commit)
    return row


async def _find(model: Any, session: AsyncSession, lookups: dict[str, Any], *, lock: bool) -> Any:
    query = model.filter_by(**lookups).with_session(session)
    if lock:
        query = query.for_update()
    return await query.one_or_none()


def _check_plain(model: type[Any], lookups: dict[str, Any]) -> None:
    """Lookups must be plain field=value: they also fill the new row."""
    if not lookups:
        raise InvalidFieldError(f"Give {model.__name__} lookups (field=value) to find the row by.")
    for key in lookups:
        if LOOKUP_SEPARATOR in key:
            raise InvalidFieldError(
                f"{key!r}: get_or_create/update_or_create take plain field=value lookups, "
                "which also fill the new row; filter first for anything else.",
                model=model.__name__,
                field=key,
            )
