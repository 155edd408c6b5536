"""``get_or_create``, ``update_or_create``, ``create_or_update``: safe under concurrency.

Two tasks racing on the same unique key both miss the row, both INSERT, and
one INSERT fails on the unique index. What happens next depends on whose
transaction it is:

* sqlrecord's own: the loser's transaction is rolled back (releasing every
  lock it took) and the whole find-or-write runs again in a new one, which now
  finds the winner's row. Deadlocks and serialization failures are retried the
  same way, a few times.
* the caller's (served): the INSERT ran in a SAVEPOINT, which is rolled back;
  the winner's row is then read with a locking read, which sees the latest
  committed version even under MySQL's REPEATABLE READ.

Rows that may not exist are never locked (``SELECT … FOR UPDATE`` on a gap is
how concurrent inserts deadlock on InnoDB); a row that exists is locked by its
primary key before it is updated. ``CRUDMixin`` exposes these as class methods.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Mapping
from typing import Any, TypeVar

from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import AsyncSession

from . import _records
from ._model_info import model_info
from ._paths import LOOKUP_SEPARATOR
from ._registry import served_session
from ._scope import SessionScope
from ._translate import translate_errors
from .exceptions import DuplicateKeyError, InvalidFieldError, TransactionConflictError

__all__ = ["ATTEMPTS", "create_or_update", "get_or_create", "update_or_create"]

#: How many times an own-session find-or-write runs before giving up on a conflict.
ATTEMPTS = 5

_T = TypeVar("_T")


async def get_or_create(
    model: Any,
    defaults: Mapping[str, Any] | None,
    lookups: dict[str, Any],
    *,
    session: AsyncSession | None = None,
    auto_commit: bool = False,
    allow_protected: bool | Collection[str] = False,
) -> tuple[Any, bool]:
    """See :meth:`sqlrecord.CRUDMixin.get_or_create`.

    Example:
        >>> run(get_or_create(User, None, {"email": "kim@example.com"}))[1]
        True
    """
    _check_plain(model, lookups)
    values = {**lookups, **(defaults or {})}

    async def attempt(s: AsyncSession, served: bool) -> tuple[Any, bool]:
        found = await model.filter_by(**lookups).with_session(s).one_or_none()
        if found is not None:
            return found, False
        try:
            created = await _records.create(
                model, values, {}, session=s, allow_protected=allow_protected
            )
            return created, True
        except DuplicateKeyError:
            if not served:
                raise  # retried in a fresh transaction, which will see the winner's row
            found = await _locked(model, s, lookups)
            if found is None:
                raise
            return found, False

    return await _run(model, session, auto_commit, attempt, operation="get_or_create")


async def update_or_create(
    model: Any,
    defaults: Mapping[str, Any] | None,
    lookups: dict[str, Any],
    *,
    session: AsyncSession | None = None,
    auto_commit: bool = False,
    allow_protected: bool | Collection[str] = False,
) -> tuple[Any, bool]:
    """See :meth:`sqlrecord.CRUDMixin.update_or_create`.

    Example:
        >>> run(update_or_create(User, {"name": "K"}, {"email": "kim@example.com"}))[0].name
        'K'
    """
    _check_plain(model, lookups)
    changes = dict(defaults or {})

    async def attempt(s: AsyncSession, served: bool) -> tuple[Any, bool]:
        found = await model.filter_by(**lookups).with_session(s).one_or_none()
        created = False
        if found is None:
            try:
                created = await _records.create(
                    model, {**lookups, **changes}, {}, session=s, allow_protected=allow_protected
                )
                return created, True
            except DuplicateKeyError:
                if not served:
                    raise
        found = await _locked(model, s, lookups, by_key=found)
        if found is None:
            raise DuplicateKeyError(
                f"A {model.__name__} with these unique values exists but does not match "
                f"{lookups!r}; it cannot be updated through these lookups."
            )
        if changes:
            planned = found._plan_fill(changes, allow_protected)
            await found._write(session=s, auto_commit=False, planned=planned)
        return found, created

    return await _run(model, session, auto_commit, attempt, operation="update_or_create")


async def create_or_update(
    model: Any,
    values: dict[str, Any],
    *,
    session: AsyncSession | None = None,
    auto_commit: bool = False,
    allow_protected: bool | Collection[str] = False,
) -> Any:
    """See :meth:`sqlrecord.CRUDMixin.create_or_update`.

    Example:
        >>> run(create_or_update(User, {"email": "kim@example.com"})).email
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
    row, _ = await update_or_create(
        model,
        rest,
        lookups,
        session=session,
        auto_commit=auto_commit,
        allow_protected=allow_protected,
    )
    return row


async def _run(
    model: Any,
    session: AsyncSession | None,
    auto_commit: bool,
    attempt: Callable[[AsyncSession, bool], Awaitable[_T]],
    *,
    operation: str,
) -> _T:
    served = served_session(model, session)
    if served is not None:
        result = await attempt(served, True)
        if auto_commit:
            with translate_errors(model=model.__name__):
                await served.commit()
        return result
    for number in range(1, ATTEMPTS + 1):
        try:
            async with SessionScope(model, None, write=True, operation=operation) as own:
                return await attempt(own.session, False)
        except (DuplicateKeyError, TransactionConflictError):
            if number == ATTEMPTS:
                raise
    raise AssertionError("unreachable")  # pragma: no cover


async def _locked(
    model: Any, session: AsyncSession, lookups: dict[str, Any], *, by_key: Any = None
) -> Any:
    """Read the row with FOR UPDATE: by primary key when known, else by the lookups."""
    if by_key is not None:
        identity = inspect(by_key).identity or ()
        lookups = dict(zip(model_info(model).primary_key_names, identity, strict=True))
    query = model.filter_by(**lookups).with_session(session).for_update().populate_existing()
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
