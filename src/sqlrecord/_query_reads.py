"""The reading terminals of a query: objects (``all``, ``first``, ``one``), counts,
aggregates and plain values (``values``, ``values_list``).

Each runs one SELECT in the query's session scope (served or own, see
``_scope``) and shapes the result; nothing here writes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Generator, Sequence
from typing import Any, TypeVar

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from ._model_info import model_info
from ._paths import FieldRef, resolve_field_ref
from ._plan_types import Route
from ._query_building import QueryBuilding, primary_key_columns
from ._read_routing import read_in_scope
from ._reads_alone import load_query_alone
from ._row_dicts import rows_as_dicts
from ._scope import SessionScope
from ._select_parts import JoinPlan
from .exceptions import InvalidValueError, MultipleResultsError, NotFoundError

__all__ = ["QueryReads"]

M = TypeVar("M")
_T = TypeVar("_T")


class QueryReads(QueryBuilding[M]):
    """The terminals that read, mixed into :class:`~sqlrecord.Query`.

    Example:
        >>> _ = run(User.create(email="kim@example.com"))
        >>> run(User.filter_by().values_list("email", flat=True)), run(User.filter_by().count())
        (['kim@example.com'], 1)
    """

    __slots__ = ()

    def _scope(self, operation: str, *, cursor: bool = False) -> SessionScope:
        """The scope of a read named ``operation`` (the plan logs the name). A query that
        locks rows reads on the primary, whatever replicas the database has."""
        return SessionScope(
            self._model,
            self._session,
            write=False,
            cursor=cursor,
            operation=operation,
            primary=self._for_update is not None,
        )

    async def _read(self, operation: str, read: Callable[[AsyncSession], Awaitable[_T]]) -> _T:
        """``read`` in the session of ``operation``'s scope, run again elsewhere if its
        replica fails."""
        return await read_in_scope(lambda: self._scope(operation), lambda s: read(s.session))

    async def _rows(self, statement: Any, operation: str) -> tuple[list[str], Sequence[Any]]:
        """Column names and rows of a query that selects columns, not objects, run as
        its scope plans it (``SessionScope.execute_columns``)."""

        async def rows(scope: SessionScope) -> tuple[list[str], Sequence[Any]]:
            return await scope.execute_columns(statement)

        return await read_in_scope(lambda: self._scope(operation), rows)

    def __await__(self) -> Generator[Any, None, list[M]]:
        return self.all().__await__()

    async def all(self) -> list[M]:
        """Every matching row, as model objects.

        Example:
            >>> run(User.filter_by(name="nobody").all())
            []
        """
        return await self._objects(first=False)

    def _attach(self, row: Any) -> M:
        """The object of a row that selects the model first (annotated queries also set
        their values on it; ``_query_annotations``)."""
        found: M = row[0]
        return found

    async def _objects(self, *, first: bool) -> list[M]:
        """The matching objects (with ``first``, at most the first one): read by the
        session, or on a connection of their own as the scope plans it
        (``_reads_alone.py``)."""

        async def objects(scope: SessionScope) -> list[M]:
            statement = self.statement()
            # Uniquing (joined eager loads) is the ORM's own.
            alone = not self._uniquing and scope.plan_load(statement=statement)
            if alone is Route.CONNECTION_LOAD:
                loaded = await load_query_alone(scope.own_bind, self._model, statement)
                if first:  # as the ORM's first(): the first row's object, None for no row
                    return loaded[:1] if loaded and loaded[0] is not None else []
                return loaded
            result = await scope.session.scalars(statement)
            if self._uniquing:
                result = result.unique()
            if first:
                found = result.first()
                return [] if found is None else [found]
            return list(result.all())

        return await read_in_scope(lambda: self._scope("first" if first else "all"), objects)

    async def first(self) -> M | None:
        """The first row in the query's order, or ``None``.

        Example:
            >>> run(User.order_by("email").first()) is None
            True
        """
        found = await self.limit(1)._objects(first=True)
        return found[0] if found else None

    async def one_or_none(self) -> M | None:
        """The only matching row, or ``None``; :class:`MultipleResultsError` if several match.

        Example:
            >>> run(User.filter_by(email="none@example.com").one_or_none()) is None
            True
        """
        rows = await self.limit(2).all() if self._limit is None else await self.all()
        if len(rows) > 1:
            raise MultipleResultsError(
                f"Several {self._model.__name__} rows match where at most one was expected. "
                "Add lookups that identify one row, or use first()."
            )
        return rows[0] if rows else None

    async def one(self) -> M:
        """The only matching row; :class:`NotFoundError` or :class:`MultipleResultsError`.

        Example:
            >>> run(User.filter_by(email="none@example.com").one())  # doctest: +ELLIPSIS
            Traceback (most recent call last):
            ...
            sqlrecord.exceptions.NotFoundError: No User matches ...
        """
        row = await self.one_or_none()
        if row is None:
            raise NotFoundError(f"No {self._model.__name__} matches {self._describe()}.")
        return row

    async def count(self) -> int:
        """How many rows match (honours ``limit``/``offset``).

        Example:
            >>> run(User.filter_by(name__startswith="K").count())
            0
        """
        if self._limit is None and self._offset is None:
            statement = select(func.count()).select_from(self._model)
            where = self._object_where()
            if where:
                statement = statement.where(*where)
        else:
            keys = self._select(
                select(*primary_key_columns(self._model)), JoinPlan(self._model), nulls=False
            )
            statement = select(func.count()).select_from(keys.order_by(None).subquery())
        _, rows = await self._rows(statement, "count")
        return int(rows[0][0] or 0)

    async def exists(self) -> bool:
        """Whether any row matches.

        Example:
            >>> run(User.filter_by(email="kim@example.com").exists())
            False
        """
        statement = select(*primary_key_columns(self._model)[:1])
        where = self._where()
        if where:
            statement = statement.where(*where)
        # A row at the query's offset exists, whatever its order and limit (but 0).
        limit = 0 if self._limit == 0 else 1
        _, rows = await self._rows(statement.offset(self._offset).limit(limit), "exists")
        return bool(rows)

    async def _aggregate(self, name: str, field: str) -> Any:
        plan = JoinPlan(self._model)
        ref = resolve_field_ref(self._model, field, purpose="aggregate")
        statement = select(getattr(func, name)(plan.column(ref)))
        statement = plan.apply(statement)
        where = self._object_where()
        if where:
            statement = statement.where(*where)
        _, rows = await self._rows(statement, name)
        return rows[0][0] if rows else None

    async def sum(self, field: str) -> Any:
        """SUM of ``field`` over the matching rows (``None`` when there are none).

        Example:
            >>> run(Post.filter_by().sum("id")) is None
            True
        """
        return await self._aggregate("sum", field)

    async def min(self, field: str) -> Any:
        """Smallest value of ``field``.

        Example:
            >>> run(User.filter_by().min("email")) is None
            True
        """
        return await self._aggregate("min", field)

    async def max(self, field: str) -> Any:
        """Largest value of ``field``.

        Example:
            >>> run(User.filter_by().max("created_at")) is None
            True
        """
        return await self._aggregate("max", field)

    async def avg(self, field: str) -> Any:
        """Average of ``field``.

        Example:
            >>> run(User.filter_by().avg("id")) is None
            True
        """
        return await self._aggregate("avg", field)

    def _value_refs(self, fields: tuple[str, ...]) -> list[FieldRef]:
        names = fields or tuple(model_info(self._model).column_names)
        return [resolve_field_ref(self._model, name, purpose="select") for name in names]

    def _values_statement(self, refs: list[FieldRef]) -> Select[Any]:
        plan = JoinPlan(self._model)
        columns = [plan.column(ref).label(ref.key) for ref in refs]
        statement = self._select(select(*columns), plan, nulls=not self._distinct)
        return statement.distinct() if self._distinct else statement

    async def values(self, *fields: str) -> list[dict[str, Any]]:
        """Rows as dicts of the named fields (default: every column); no objects are built.

        Example:
            >>> _ = run(User.create(email="kim@example.com", name="Kim"))
            >>> run(User.filter_by().values("email", "name"))
            [{'email': 'kim@example.com', 'name': 'Kim'}]
        """
        keys, rows = await self._rows(self._values_statement(self._value_refs(fields)), "values")
        return rows_as_dicts(keys, rows)

    async def values_list(self, *fields: str, flat: bool = False) -> list[Any]:
        """Rows as tuples of the named fields; ``flat=True`` with one field gives plain values.

        Example:
            >>> _ = run(User.create(email="kim@example.com", name="Kim"))
            >>> run(User.filter_by().values_list("email", flat=True))
            ['kim@example.com']
        """
        if flat and len(fields) != 1:
            raise InvalidValueError("values_list(flat=True) takes exactly one field name.")
        _, rows = await self._rows(self._values_statement(self._value_refs(fields)), "values_list")
        if flat:
            return [row[0] for row in rows]
        return [tuple(row) for row in rows]

    def _describe(self) -> str:
        return "the query's conditions" if self._conditions else "the query"
