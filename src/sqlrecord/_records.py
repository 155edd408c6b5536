"""The bodies of the model-level calls that take field values: ``create``, ``get``, ``get_or_fail``.

Their options (the session, ``auto_commit``, what is trusted) are parameters
here and never keyword arguments of the public calls, whose ``**values`` may
be a request's data: ``CRUDMixin`` calls these with the defaults, ``Query``
with what ``Model.using(...)`` gave it.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

from sqlalchemy import inspect, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstanceState

from ._column_types import fits
from ._model_info import ModelInfo, model_info
from ._plan_types import Route
from ._read_routing import read_in_scope
from ._reads_alone import load_alone, load_query_alone
from ._scope import SessionScope
from ._soft import deleted_condition, live_condition, soft_delete_column
from ._values import check_integer_range
from .exceptions import InvalidFieldError, InvalidValueError, NotFoundError

__all__ = ["create", "describe_key", "get", "get_or_fail"]


async def create(
    model: Any,
    data: Mapping[str, Any] | None,
    values: dict[str, Any],
    *,
    session: AsyncSession | None = None,
    auto_commit: bool = False,
    allow_protected: bool | Collection[str] = False,
) -> Any:
    """Build an object, plan its ``fill`` and save it (see :meth:`CRUDMixin.create`).

    Example:
        >>> run(create(User, {"email": "kim@example.com"}, {})).id > 0
        True
    """
    obj = model()
    planned = obj._plan_fill({**(data or {}), **values}, allow_protected)
    return await obj._write(
        session=session, auto_commit=auto_commit, planned=planned, operation="create"
    )


async def get(
    model: Any,
    pks: tuple[Any, ...],
    unique: dict[str, Any],
    *,
    session: AsyncSession | None = None,
    with_deleted: bool = False,
    only_deleted: bool = False,
) -> Any:
    """One row by key or unique columns, or a list of rows by keys (see :meth:`CRUDMixin.get`);
    soft-deleted rows too (``with_deleted``), or only those (``only_deleted``).

    Example:
        >>> run(get(User, (404,), {})) is None
        True
    """
    info = model_info(model)
    if pks and unique:
        raise InvalidFieldError(
            f"{model.__name__}.get takes primary keys or unique keywords, not both.",
            model=model.__name__,
            valid=info.unique_names,
        )
    if not pks and not unique:
        # Typed: the keywords may be a request's (empty) query string.
        raise InvalidFieldError(
            f"{model.__name__}.get needs a primary key or a unique keyword "
            f"({', '.join(info.unique_names)}).",
            model=model.__name__,
            valid=info.unique_names,
        )
    column = soft_delete_column(model)
    if column is None or (with_deleted and not only_deleted):
        live = []
    else:  # the rows' soft-delete state: alive, or (only_deleted) deleted
        live = [deleted_condition(model) if only_deleted else live_condition(model)]
    # Checked before any session: a bad key or keyword is the caller's, not a replica's.
    if unique:
        wanted = _checked_unique(model, info, unique)
        statement = select(model).filter_by(**wanted).where(*live)
    else:
        keys = [_checked_key(model, info, pk) for pk in pks]

    def make_scope() -> SessionScope:
        return SessionScope(model, session, write=False, operation="get")

    async def found_in(scope: SessionScope) -> Any:
        # The session is opened (an own one) only where the route reads by it.
        if unique:
            if scope.plan_load(statement=statement) is Route.CONNECTION_LOAD:
                loaded = await load_query_alone(scope.own_bind, model, statement)
                if len(loaded) < 2:
                    return loaded[0] if loaded else None
                # Several rows (no unique constraint in the table): the session's error.
            return (await scope.session.scalars(statement)).one_or_none()
        if len(keys) == 1:
            key = keys[0]
            held = _held_by(scope.planned_on, model, key)  # an own one not opened holds none
            route = scope.plan_load(held=held is not None, key=_as_tuple(key))
            if only_deleted and route is not Route.IDENTITY_HIT:
                # By its WHERE: a live row is not loaded.
                rows = await _get_many(scope.session, model, info, keys, live)
                return rows[0] if rows else None
            if route is Route.IDENTITY_HIT:
                found = held
            elif route is Route.CONNECTION_LOAD:
                alone = await load_alone(scope.own_bind, model, _as_tuple(key))
                # Several rows share the key: session.get raises its own error for them.
                found = alone[0] if len(alone) == 1 else None
                if len(alone) > 1:
                    found = await scope.session.get(model, key)
            else:
                found = await scope.session.get(model, key)
            if found is not None and live:
                deleted = getattr(found, str(column)) is not None
                return found if deleted == only_deleted else None
            return found
        return await _get_many(scope.session, model, info, keys, live)

    return await read_in_scope(make_scope, found_in)


async def get_or_fail(
    model: Any,
    pks: tuple[Any, ...],
    unique: dict[str, Any],
    *,
    session: AsyncSession | None = None,
    with_deleted: bool = False,
    only_deleted: bool = False,
) -> Any:
    """:func:`get`, raising :class:`NotFoundError` for any missing row.

    Example:
        >>> run(get_or_fail(User, (404,), {}))
        Traceback (most recent call last):
        ...
        sqlrecord.exceptions.NotFoundError: No User with id=404.
    """
    found = await get(
        model, pks, unique, session=session, with_deleted=with_deleted, only_deleted=only_deleted
    )
    info = model_info(model)
    if isinstance(found, list):
        have = {inspect(obj).identity for obj in found}
        missing = [_as_tuple(pk) for pk in pks if _as_tuple(pk) not in have]
    elif found is None:
        missing = [_as_tuple(pks[0])] if pks else []
    else:
        return found
    if found is None and unique:
        wanted = ", ".join(f"{key}={value!r}" for key, value in unique.items())
        raise NotFoundError(f"No {model.__name__} with {wanted}.")
    if missing:
        described = "; ".join(describe_key(info, key) for key in missing)
        raise NotFoundError(f"No {model.__name__} with {described}.")
    return found


def _as_tuple(pk: Any) -> tuple[Any, ...]:
    return tuple(pk) if isinstance(pk, tuple | list) else (pk,)


def describe_key(info: ModelInfo, key: Sequence[Any]) -> str:
    return ", ".join(
        f"{name}={value!r}" for name, value in zip(info.primary_key_names, key, strict=False)
    )


def _checked_value(model: type[Any], info: ModelInfo, name: str, value: Any) -> Any:
    accepted = info.accepted_types.get(name)
    if accepted is not None and not fits(value, accepted):
        expected = " or ".join(kind.__name__ for kind in accepted)
        raise InvalidValueError(
            f"{model.__name__}.{name} is looked up with {expected}, got {type(value).__name__}."
        )
    check_integer_range(model, info, name, value)
    return value


def _checked_key(model: type[Any], info: ModelInfo, pk: Any) -> Any:
    parts = _as_tuple(pk)
    if len(parts) != len(info.primary_key_names):
        raise InvalidValueError(
            f"{model.__name__}'s primary key has {len(info.primary_key_names)} part(s) "
            f"({', '.join(info.primary_key_names)}); got {pk!r}."
        )
    for name, value in zip(info.primary_key_names, parts, strict=True):
        _checked_value(model, info, name, value)
    return parts[0] if len(parts) == 1 else parts


def _held_by(session: AsyncSession, model: type[Any], key: Any) -> Any:
    """What ``session.get`` answers from its identity map (the object, when held, of
    the model's class and not expired), found without its trip through a greenlet;
    None when ``session.get`` must look."""
    sync_session = session.sync_session
    if not sync_session.identity_map:
        return None
    mapper = inspect(model)
    identity = mapper.identity_key_from_primary_key(key if isinstance(key, tuple) else (key,))
    held = sync_session.identity_map.get(identity)
    if held is None or not isinstance(held, model):
        return None
    state: InstanceState[Any] = inspect(held)
    return None if state.expired else held


def _checked_unique(model: type[Any], info: ModelInfo, unique: dict[str, Any]) -> dict[str, Any]:
    for name, value in unique.items():
        if name not in info.unique_names:
            # The hint is a call that runs: a query, not the bare `select` of `Model.query`.
            lookups = f"{name}=..." if name in info.column_set else "..."
            raise InvalidFieldError(
                f"{model.__name__}.get() looks up by primary-key or unique columns only "
                f"({', '.join(info.unique_names)}); {name!r} is not one. Use "
                f"{model.__name__}.filter_by({lookups}).first() (or .all()) for other "
                "columns.",
                model=model.__name__,
                field=name,
                valid=info.unique_names,
            )
        _checked_value(model, info, name, value)
    return unique


async def _get_many(
    session: AsyncSession, model: type[Any], info: ModelInfo, keys: list[Any], live: list[Any]
) -> list[Any]:
    mapper = inspect(model)
    columns = [getattr(model, name) for name in info.primary_key_names]
    condition = columns[0].in_(keys) if len(columns) == 1 else tuple_(*columns).in_(keys)
    rows = (await session.scalars(select(model).where(condition, *live))).all()
    by_key = {mapper.identity_key_from_instance(row)[1]: row for row in rows}
    ordered = [by_key.get(_as_tuple(key)) for key in keys]
    return [row for row in dict.fromkeys(ordered) if row is not None]
