"""``BulkMixin``: many rows in few statements (``bulk_create``, ``bulk_update``, ``upsert``)."""

from __future__ import annotations

import itertools
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any, Literal, Self, overload

from sqlalchemy import insert, inspect, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from . import _bulk_update
from ._model_info import model_info
from ._protection import is_trusted, protected_error
from ._scope import SessionScope
from ._upsert import upsert_statement
from ._values import check_rows
from .exceptions import InvalidFieldError, InvalidValueError

__all__ = ["BulkMixin", "bulk_create", "upsert"]


class BulkMixin:
    """Bulk writes. Rows are dicts of attribute names, checked like ``fill`` first.

    Options (a session, ``auto_commit``, trusted protected fields) go through
    ``Model.using(...)``: ``await User.using(session).bulk_create(rows)``.

    Example:
        >>> run(User.bulk_create([{"email": "a@example.com"}, {"email": "b@example.com"}]))
        2
        >>> run(User.count())
        2
    """

    @overload
    @classmethod
    async def bulk_create(
        cls,
        rows: Iterable[Mapping[str, Any]],
        /,
        *,
        batch_size: int = ...,
        return_objects: Literal[False] = ...,
    ) -> int: ...

    @overload
    @classmethod
    async def bulk_create(
        cls,
        rows: Iterable[Mapping[str, Any]],
        /,
        *,
        batch_size: int = ...,
        return_objects: Literal[True],
    ) -> list[Self]: ...

    @classmethod
    async def bulk_create(
        cls,
        rows: Iterable[Mapping[str, Any]],
        /,
        *,
        batch_size: int = 1000,
        return_objects: bool = False,
    ) -> int | list[Self]:
        """INSERT ``rows`` in batches, all or nothing: what ``session.add_all`` of
        ``Model(**row)`` objects and a flush would store.

        Returns the number of rows, or with ``return_objects=True`` the new
        objects, ids and database defaults included.

        The rows become objects and go through the ORM's unit of work, so your
        validators, defaults, events, version counter and inheritance apply as
        with ``add_all`` (the unit of work batches them where the database can
        return many rows' ids from one statement). Without ``return_objects``, a
        model that nothing can watch (no listener or validator of any kind, one
        table, no version counter, no inheritance) is written with one Core
        INSERT per batch instead, which stores the same rows.

        Example:
            >>> users = run(User.bulk_create([{"email": "c@example.com"}], return_objects=True))
            >>> users[0].id is not None, users[0].created_at is not None
            (True, True)
        """
        created: int | list[Self] = await bulk_create(
            cls, rows, batch_size=batch_size, return_objects=return_objects
        )
        return created

    @classmethod
    async def bulk_update(
        cls, objs: Iterable[Self], fields: Iterable[Any], /, *, batch_size: int = 1000
    ) -> int:
        """UPDATE each object's row with its current values of ``fields``, in one
        executemany UPDATE by primary key per batch; returns how many rows were updated.

        The objects are stored ones (loaded, or saved before), of this model or a
        subclass; ``fields`` are settable columns (protected ones only through
        ``using(allow_protected=...)``, never the primary key). Everything is
        checked before any SQL. Each row also gets what the ORM's bulk UPDATE by
        primary key gives it: every other column's ``onupdate`` (``updated_at``),
        and with a version counter the next version, checked against the one the
        object holds. A row changed or deleted by someone else since its object was
        loaded raises :class:`~sqlrecord.exceptions.StaleObjectError`, and nothing
        of the call is written. Afterwards the fields are no longer pending changes
        of the objects, which show the new version and the database-set values.
        No objects: ``0`` and no SQL.

        Example:
            >>> users = [run(User.create(email=f"{n}@example.com")) for n in "ab"]
            >>> for user in users:
            ...     user.name = user.email[0].upper()
            >>> run(User.bulk_update(users, ["name"]))
            2
            >>> sorted(run(User.filter_by().values_list("name", flat=True)))
            ['A', 'B']
        """
        return await _bulk_update.bulk_update(cls, objs, fields, batch_size=batch_size)

    @classmethod
    async def upsert(
        cls,
        rows: Iterable[Mapping[str, Any]],
        /,
        *,
        conflict: Sequence[str],
        update: Sequence[str] | None = None,
        return_objects: bool = False,
        batch_size: int = 1000,
    ) -> int | list[Self]:
        """INSERT rows; where one collides on ``conflict``, UPDATE the ``update`` columns instead.

        ``conflict`` names a primary key or unique column set. ``update=None``
        updates every other column the rows give; ``update=()`` leaves existing
        rows alone. PostgreSQL and SQLite use ``ON CONFLICT``; MySQL/MariaDB ``ON
        DUPLICATE KEY UPDATE`` (which reacts to any unique key). Returns the
        number of rows given, or with ``return_objects=True`` the resulting rows
        (read back by their conflict keys).

        It is SQLAlchemy's ORM upsert (the dialect's ``insert(Model)``, executed
        through the session), one statement per batch: new rows get what the ORM's
        bulk INSERT gives them (Python defaults, the version counter's first value,
        a subclass's discriminator), and values pass the model's ``@validates``
        first. An updated row gets what the ORM's UPDATE of it would: the
        ``update`` columns, each other column's own ``onupdate`` (say, an
        ``updated_at`` timestamp), and the next version. Being one statement, it
        runs no flush or mapper hook (``before_insert`` and the like): see the
        differences table in the docs.

        Example:
            >>> _ = run(User.create(email="kim@example.com", name="Old"))
            >>> rows = [{"email": "kim@example.com", "name": "New"}, {"email": "lee@example.com"}]
            >>> run(User.upsert(rows, conflict=["email"], update=["name"]))
            2
            >>> sorted(run(User.filter_by().values_list("email", "name")))
            [('kim@example.com', 'New'), ('lee@example.com', None)]
        """
        written: int | list[Self] = await upsert(
            cls,
            rows,
            conflict=conflict,
            update=update,
            return_objects=return_objects,
            batch_size=batch_size,
        )
        return written


async def bulk_create(
    model: Any,
    rows: Iterable[Mapping[str, Any]],
    *,
    batch_size: int = 1000,
    return_objects: bool = False,
    session: AsyncSession | None = None,
    auto_commit: bool = False,
    allow_protected: bool | Collection[str] = False,
) -> Any:
    """The body of :meth:`BulkMixin.bulk_create`, its options as parameters.

    Example:
        >>> run(bulk_create(User, [{"email": "kim@example.com"}]))
        1
    """
    checked = _checked_rows(model, rows, allow_protected)
    size = _batch_size(batch_size)
    if not checked:
        return [] if return_objects else 0
    created: list[Any] = []
    scope = SessionScope(
        model,
        session,
        write=True,
        auto_commit=auto_commit,
        defer_begin=True,
        operation="bulk_create",
    )
    async with scope:
        table_rows = scope.plan_bulk(return_objects=return_objects)
        await scope.begin()
        s = scope.session
        for start in range(0, len(checked), size):
            batch = checked[start : start + size]
            if table_rows is None:
                created.extend(await _flush_as_objects(model, s, batch))
                continue
            table, as_table_row = table_rows
            for run in _runs_of_same_keys([as_table_row(row) for row in batch]):
                await s.execute(insert(table), run)
    return created if return_objects else len(checked)


async def upsert(
    model: Any,
    rows: Iterable[Mapping[str, Any]],
    *,
    conflict: Sequence[str],
    update: Sequence[str] | None = None,
    return_objects: bool = False,
    batch_size: int = 1000,
    session: AsyncSession | None = None,
    auto_commit: bool = False,
    allow_protected: bool | Collection[str] = False,
) -> Any:
    """The body of :meth:`BulkMixin.upsert`, its options as parameters.

    Example:
        >>> run(upsert(User, [{"email": "kim@example.com"}], conflict=["email"]))
        1
    """
    checked = _validated(model, _checked_rows(model, rows, allow_protected))
    conflict = list(conflict)
    _check_conflict(model, conflict, checked)
    updated = _update_columns(model, conflict, update, checked)
    size = _batch_size(batch_size)
    if not checked:
        return [] if return_objects else 0
    scope = SessionScope(model, session, write=True, auto_commit=auto_commit, operation="upsert")
    async with scope:
        s = scope.session
        dialect = s.get_bind(mapper=inspect(model)).dialect
        # One statement per set of keys: an executemany needs the same
        # columns in every row, and a row updates only what it gives.
        for keys, group in _group_by_keys(checked).items():
            columns = [name for name in updated if name in keys]
            statement = upsert_statement(dialect, model, conflict, columns)
            for start in range(0, len(group), size):
                await s.execute(statement, group[start : start + size])
        if not return_objects:
            return len(checked)
        attributes = [getattr(model, name) for name in conflict]
        wanted = list(dict.fromkeys(tuple(row[name] for name in conflict) for row in checked))
        condition = (
            attributes[0].in_([value[0] for value in wanted])
            if len(attributes) == 1
            else tuple_(*attributes).in_(wanted)
        )
        found = select(model).where(condition).execution_options(populate_existing=True)
        return list((await s.scalars(found)).all())


async def _flush_as_objects(
    model: type[Any], session: AsyncSession, rows: list[dict[str, Any]]
) -> list[Any]:
    """The rows as new objects (``Model(**row)``), added and flushed by the unit of work."""
    objects = [model(**row) for row in rows]
    session.add_all(objects)
    await session.flush()
    return objects


def _runs_of_same_keys(rows: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Consecutive rows that give the same columns (one executemany each), in order."""
    return [list(run) for _, run in itertools.groupby(rows, key=lambda row: row.keys())]


def _group_by_keys(rows: list[dict[str, Any]]) -> dict[frozenset[str], list[dict[str, Any]]]:
    groups: dict[frozenset[str], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(frozenset(row), []).append(row)
    return groups


def _validated(model: type[Any], rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows as the model's ``@validates`` methods leave them (run on a throwaway
    object per row, as ``Model(**row)`` would run them)."""
    if not inspect(model).validators:
        return rows
    validated = []
    for row in rows:
        obj = model(**row)  # held: the state's dict lives as long as the object
        values = inspect(obj).dict
        validated.append({name: values[name] for name in row})
    return validated


def _batch_size(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidValueError(f"batch_size takes a whole number >= 1, got {value!r}.")
    return value


def _checked_rows(
    model: type[Any], rows: Iterable[Mapping[str, Any]], allow_protected: bool | Collection[str]
) -> list[dict[str, Any]]:
    """Rows for INSERT: columns only (no relationships), each value checked like ``fill``."""
    info = model_info(model)
    allowed = set(info.settable_column_names) | info.natural_key_names
    writable = {
        name
        for name in allowed
        if name not in info.protected_names or is_trusted(name, allow_protected)
    }
    checked = []
    for row in rows:
        if type(row) is not dict:
            if not isinstance(row, Mapping):
                raise InvalidValueError(
                    f"Bulk rows for {model.__name__} are dicts of column values, "
                    f"got {type(row).__name__}."
                )
            row = dict(row)
        checked.append(row)
    for name in set().union(*checked) - writable:
        _refuse_name(model, name, allowed)
    check_rows(model, checked)
    return checked


def _refuse_name(model: type[Any], name: str, allowed: set[str]) -> None:
    if name not in allowed:
        raise InvalidFieldError.unknown(model.__name__, name, sorted(allowed))
    raise protected_error(model, name)


def _check_conflict(model: type[Any], conflict: list[str], rows: list[dict[str, Any]]) -> None:
    info = model_info(model)
    unique_sets = [list(info.primary_key_names), *[[name] for name in info.unique_names]]
    if not conflict or conflict not in unique_sets:
        choices = "; ".join(", ".join(names) for names in unique_sets)
        raise InvalidFieldError(
            f"upsert(conflict={conflict!r}) must name {model.__name__}'s primary key or one "
            f"unique column: {choices}.",
            model=model.__name__,
            field=",".join(conflict),
        )
    for row in rows:
        missing = [name for name in conflict if row.get(name) is None]
        if missing:
            raise InvalidValueError(
                f"Every upsert row needs a value for {', '.join(missing)} (the conflict key)."
            )


def _update_columns(
    model: type[Any], conflict: list[str], update: Sequence[str] | None, rows: list[dict[str, Any]]
) -> list[str]:
    info = model_info(model)
    if update is None:
        given = dict.fromkeys(name for row in rows for name in row)
        return [name for name in given if name not in conflict]
    for name in update:
        if name not in info.settable_column_names or name in conflict:
            raise InvalidFieldError.unknown(model.__name__, name, info.settable_column_names)
    return list(update)
