"""``Query``: a lazy, immutable, typed query over one model.

Each chained call returns a new query; nothing runs until a terminal method
is awaited (``await query`` alone means ``all()``). Every lookup, sort key,
field and loader path is checked when it is added, so a typo raises
:class:`~sqlrecord.exceptions.InvalidFieldError` before any SQL is sent.
Terminals follow the served-or-own session rule.
"""

from __future__ import annotations

from collections.abc import Collection, Generator, Sequence
from typing import Any, Self, TypeVar

from sqlalchemy import Select, func, inspect, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import with_loader_criteria
from sqlalchemy.sql import ColumnElement

from ._paths import FieldRef, resolve_field_ref
from ._protection import Trusted, trusted_names
from ._query_extras import QueryWritesAndPages
from ._query_records import QueryRecords
from ._scope import SessionScope
from ._select_parts import (
    JoinPlan,
    SortKey,
    loader_option,
    order_expressions,
    resolve_sort_key,
)
from ._soft import live_condition, soft_delete_column
from .exceptions import InvalidValueError, MultipleResultsError, NotFoundError
from .introspection import model_info
from .lookups import build_condition
from .q import Q, resolve_q

__all__ = ["Query"]

M = TypeVar("M")


class Query(QueryRecords[M], QueryWritesAndPages[M]):
    """A lazy query for ``model``; build it with ``Model.filter_by(...)`` and friends.

    Example:
        >>> run(User.create(email="kim@example.com", name="Kim")).id > 0
        True
        >>> query = User.filter_by(name__icontains="KI").order_by("-id")
        >>> [user.email for user in run(query.all())]
        ['kim@example.com']
        >>> run(query.count()), run(query.exists())
        (1, True)
    """

    __slots__ = (
        "_auto_commit",
        "_conditions",
        "_distinct",
        "_for_update",
        "_limit",
        "_loads",
        "_model",
        "_offset",
        "_options",
        "_order",
        "_populate",
        "_protected",
        "_session",
        "_unique",
        "_with_deleted",
    )

    def __init__(self, model: type[M], *, session: AsyncSession | None = None) -> None:
        self._model = model
        self._conditions: tuple[ColumnElement[bool], ...] = ()
        self._order: tuple[SortKey, ...] = ()
        self._limit: int | None = None
        self._offset: int | None = None
        self._distinct = False
        self._loads: tuple[Any, ...] = ()
        self._options: tuple[Any, ...] = ()
        self._session = session
        self._auto_commit = False
        self._protected: Trusted = False
        self._unique = False
        self._with_deleted = False
        self._for_update: tuple[bool, bool, bool] | None = None
        self._populate = False

    def _copy(self) -> Self:
        clone = object.__new__(type(self))
        for name in Query.__slots__:
            setattr(clone, name, getattr(self, name))
        return clone

    def _reshaped(
        self,
        *,
        order: tuple[SortKey, ...],
        limit: int,
        conditions: tuple[ColumnElement[bool], ...],
    ) -> Self:
        """A copy with this order and limit, no offset, and more conditions (for cursors)."""
        clone = self._copy()
        clone._order, clone._limit, clone._offset = order, limit, None
        clone._conditions = (*self._conditions, *conditions)
        return clone

    @property
    def model(self) -> type[M]:
        """The model this query returns.

        Example:
            >>> User.filter_by().model is User
            True
        """
        return self._model

    # -- chaining ------------------------------------------------------

    def filter_by(self, /, **lookups: Any) -> Self:
        """Keep rows matching every lookup (``name="Kim"``, ``age__gte=18``, ``author__name=...``).

        Example:
            >>> print(User.filter_by(email="kim@example.com", name=None).statement())
            ... # doctest: +ELLIPSIS
            SELECT ... WHERE doc_users.email = :email_1 AND doc_users.name IS NULL
        """
        if not lookups:
            return self
        clone = self._copy()
        clone._conditions = (*self._conditions, build_condition(self._model, lookups))
        return clone

    def filter(self, *conditions: ColumnElement[bool] | Q) -> Self:
        """Keep rows matching SQLAlchemy expressions or :class:`~sqlrecord.Q` objects.

        Example:
            >>> print(User.filter(User.id > 3, Q(name="a") | Q(name="b")).statement())
            ... # doctest: +ELLIPSIS
            SELECT ... WHERE doc_users.id > :id_1 AND (doc_users.name = :name_1 OR ...)
        """
        resolved = tuple(resolve_q(condition, self._model) for condition in conditions)
        clone = self._copy()
        clone._conditions = (*self._conditions, *resolved)
        return clone

    def exclude(self, /, **lookups: Any) -> Self:
        """Drop rows matching all the lookups together (rows where they are NULL stay).

        Example:
            >>> print(User.exclude(name="Kim").statement())  # doctest: +ELLIPSIS
            SELECT ... WHERE NOT coalesce(doc_users.name = :name_1, false)
        """
        return self.filter(~Q(**lookups)) if lookups else self

    def order_by(self, *keys: str | Any) -> Self:
        """Sort by field names (``"-created_at"`` descending, ``"author__name"``) or expressions.

        Replaces any earlier order; ``order_by()`` clears it. NULLs sort last
        ascending and first descending on every database.

        Example:
            >>> print(User.order_by("-name").statement())  # doctest: +ELLIPSIS
            SELECT ... ORDER BY doc_users.name IS NULL DESC, doc_users.name DESC
        """
        clone = self._copy()
        clone._order = tuple(resolve_sort_key(self._model, key) for key in keys)
        return clone

    def limit(self, count: int) -> Self:
        """Return at most ``count`` rows.

        Example:
            >>> print(User.filter_by().limit(5).statement())  # doctest: +ELLIPSIS
            SELECT ... LIMIT :param_1
        """
        clone = self._copy()
        clone._limit = _non_negative("limit", count)
        return clone

    def offset(self, count: int) -> Self:
        """Skip the first ``count`` rows.

        Example:
            >>> print(User.filter_by().offset(10).statement())  # doctest: +ELLIPSIS
            SELECT ... OFFSET :param_1
        """
        clone = self._copy()
        clone._offset = _non_negative("offset", count)
        return clone

    def distinct(self) -> Self:
        """Distinct results: it matters for ``values()``/``values_list()`` (rows are distinct).

        Example:
            >>> run(User.filter_by().distinct().values_list("name", flat=True))
            []
        """
        clone = self._copy()
        clone._distinct = True
        return clone

    def load(self, *paths: str, strategy: str = "auto") -> Self:
        """Eager-load relationships by dotted path (``"posts"``, ``"posts.comments"``).

        ``auto`` uses SELECT IN for collections and a JOIN for many-to-one;
        ``selectin``, ``joined``, ``subquery`` or ``immediate`` force one.

        Example:
            >>> author = run(User.create(email="kim@example.com"))
            >>> _ = run(Post.create(title="Hello", author=author))
            >>> [post.title for post in run(User.load("posts").first()).posts]
            ['Hello']
        """
        clone = self._copy()
        loads = list(self._loads)
        for path in paths:
            option, targets, joins_collection = loader_option(self._model, path, strategy)
            loads.append(option)
            clone._unique = clone._unique or joins_collection
            for target in targets:
                if soft_delete_column(target) is not None:
                    # Soft-deleted rows stay out of loaded collections too.
                    loads.append(with_loader_criteria(target, live_condition, include_aliases=True))
        clone._loads = tuple(loads)
        return clone

    def options(self, *options: Any) -> Self:
        """Add raw SQLAlchemy loader options (``selectinload(...)``, ``defer(...)``).

        Example:
            >>> from sqlalchemy.orm import defer
            >>> print(User.filter_by().options(defer(User.name)).statement())  # doctest: +ELLIPSIS
            SELECT doc_users.id, doc_users.email, doc_users.is_admin, ...
        """
        clone = self._copy()
        clone._options = (*self._options, *options)
        return clone

    def using(
        self,
        session: AsyncSession | None = None,
        *,
        auto_commit: bool = False,
        allow_protected: bool | Collection[str] = False,
    ) -> Self:
        """The options of the calls that follow: where they run and what they may set.

        Calls that take field values (``create``, ``update``, ``bulk_create`` ...)
        take no options of their own, so a request's data can never set one;
        they come from here. ``session``: a served session (flushed, never
        closed; ``None``: the ambient one, else an own session). ``auto_commit``:
        commit a served session after each write. ``allow_protected``: protected
        fields this code trusts (``True`` for all), for values that come from
        code, never from a request.

        Example:
            >>> async def admin(email: str) -> bool:
            ...     async with db.transaction() as session:
            ...         trusted = User.using(session, allow_protected={"is_admin"})
            ...         user = await trusted.create(email=email, is_admin=True)
            ...     return user.is_admin
            >>> run(admin("root@example.com"))
            True
        """
        if not isinstance(auto_commit, bool):
            raise InvalidValueError(f"auto_commit takes True or False, got {auto_commit!r}.")
        clone = self._copy()
        clone._session = session
        clone._auto_commit = auto_commit
        clone._protected = trusted_names(self._model, allow_protected)
        return clone

    def with_session(self, session: AsyncSession | None) -> Self:
        """Run in ``session`` (served: never committed or closed by the query); see :meth:`using`.

        Example:
            >>> async def in_transaction() -> int:
            ...     async with db.transaction() as session:
            ...         return await User.filter_by().with_session(session).count()
            >>> run(in_transaction())
            0
        """
        clone = self._copy()
        clone._session = session
        return clone

    def for_update(
        self, *, read: bool = False, skip_locked: bool = False, nowait: bool = False
    ) -> Self:
        """Lock the selected rows until the transaction ends (``read=True``: a shared lock).

        ``skip_locked`` leaves rows other transactions hold (a work queue);
        SQLite has no row locks and ignores this (its writers are serialised).

        Example:
            >>> from sqlalchemy.dialects import postgresql
            >>> statement = User.filter_by().for_update(skip_locked=True).statement()
            >>> print(statement.compile(dialect=postgresql.dialect()))  # doctest: +ELLIPSIS
            SELECT ... FOR UPDATE SKIP LOCKED
        """
        clone = self._copy()
        clone._for_update = (read, skip_locked, nowait)
        return clone

    def populate_existing(self) -> Self:
        """Overwrite objects the session already holds with the rows' current values.

        Example:
            >>> User.filter_by().populate_existing().statement().get_execution_options()
            immutabledict({'populate_existing': True})
        """
        clone = self._copy()
        clone._populate = True
        return clone

    def with_deleted(self) -> Self:
        """Include soft-deleted rows (see :class:`~sqlrecord.SoftDeleteMixin`).

        Example:
            >>> User.filter_by().with_deleted().model is User
            True
        """
        clone = self._copy()
        clone._with_deleted = True
        return clone

    # -- statements ------------------------------------------------------

    def _shaped(self) -> str | None:
        """What of this query a model-level call (``create``, ``get``) would ignore, if any."""
        shapes = {
            "filters": self._conditions,
            "ordering": self._order,
            "limit": self._limit is not None or self._offset is not None,
            "loading": self._loads or self._options,
            "distinct()": self._distinct,
            "for_update()": self._for_update is not None,
            "populate_existing()": self._populate,
        }
        return next((name for name, given in shapes.items() if given), None)

    def _where(self) -> list[ColumnElement[bool]]:
        conditions = list(self._conditions)
        if not self._with_deleted and soft_delete_column(self._model) is not None:
            conditions.append(live_condition(self._model))
        return conditions

    def statement(self) -> Select[Any]:
        """The SQLAlchemy ``Select`` this query runs (for inspection or raw use).

        Example:
            >>> print(User.filter_by(id=1).statement())  # doctest: +ELLIPSIS
            SELECT doc_users.id, ... FROM doc_users WHERE doc_users.id = :id_1
        """
        return self._select(select(self._model), JoinPlan(self._model), nulls=True)

    def _select(self, statement: Select[Any], plan: JoinPlan, *, nulls: bool) -> Select[Any]:
        order = order_expressions(plan, self._order, nulls=nulls)
        statement = plan.apply(statement)
        where = self._where()
        if where:
            statement = statement.where(*where)
        if order:
            statement = statement.order_by(*order)
        if self._limit is not None:
            statement = statement.limit(self._limit)
        if self._offset is not None:
            statement = statement.offset(self._offset)
        if self._loads or self._options:
            statement = statement.options(*self._loads, *self._options)
        if self._for_update is not None:
            read, skip_locked, nowait = self._for_update
            statement = statement.with_for_update(read=read, skip_locked=skip_locked, nowait=nowait)
        if self._populate:
            statement = statement.execution_options(populate_existing=True)
        return statement

    def _scope(self, *, write: bool = False, cursor: bool = False) -> SessionScope:
        return SessionScope(self._model, self._session, write=write, cursor=cursor)

    async def _rows(self, statement: Any) -> tuple[list[str], Sequence[Any]]:
        """Column names and rows of a query that selects columns, not objects."""
        async with self._scope() as session:
            result = await session.execute(statement)
            return list(result.keys()), result.all()

    # -- reading -------------------------------------------------------

    def __await__(self) -> Generator[Any, None, list[M]]:
        return self.all().__await__()

    async def all(self) -> list[M]:
        """Every matching row, as model objects.

        Example:
            >>> run(User.filter_by(name="nobody").all())
            []
        """
        return await self._objects(first=False)

    async def _objects(self, *, first: bool) -> list[M]:
        """The matching objects (with ``first``, at most the first one)."""
        async with self._scope() as session:
            result = await session.scalars(self.statement())
            if self._unique:
                result = result.unique()
            if first:
                found = result.first()
                return [] if found is None else [found]
            return list(result.all())

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
                f"Several {_name(self._model)} rows match where at most one was expected. "
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
            raise NotFoundError(f"No {_name(self._model)} matches {self._describe()}.")
        return row

    async def count(self) -> int:
        """How many rows match (honours ``limit``/``offset``).

        Example:
            >>> run(User.filter_by(name__startswith="K").count())
            0
        """
        if self._limit is None and self._offset is None:
            statement = select(func.count()).select_from(self._model)
            where = self._where()
            if where:
                statement = statement.where(*where)
        else:
            keys = self._select(
                select(*_primary_key(self._model)), JoinPlan(self._model), nulls=False
            )
            statement = select(func.count()).select_from(keys.order_by(None).subquery())
        _, rows = await self._rows(statement)
        return int(rows[0][0] or 0)

    async def exists(self) -> bool:
        """Whether any row matches.

        Example:
            >>> run(User.filter_by(email="kim@example.com").exists())
            False
        """
        statement = select(*_primary_key(self._model)[:1])
        where = self._where()
        if where:
            statement = statement.where(*where)
        # A row at the query's offset exists, whatever its order and limit (but 0).
        limit = 0 if self._limit == 0 else 1
        _, rows = await self._rows(statement.offset(self._offset).limit(limit))
        return bool(rows)

    async def _aggregate(self, function: Any, field: str) -> Any:
        plan = JoinPlan(self._model)
        ref = resolve_field_ref(self._model, field, purpose="aggregate")
        statement = select(function(plan.column(ref)))
        statement = plan.apply(statement)
        where = self._where()
        if where:
            statement = statement.where(*where)
        _, rows = await self._rows(statement)
        return rows[0][0] if rows else None

    async def sum(self, field: str) -> Any:
        """SUM of ``field`` over the matching rows (``None`` when there are none).

        Example:
            >>> run(Post.filter_by().sum("id")) is None
            True
        """
        return await self._aggregate(func.sum, field)

    async def min(self, field: str) -> Any:
        """Smallest value of ``field``.

        Example:
            >>> run(User.filter_by().min("email")) is None
            True
        """
        return await self._aggregate(func.min, field)

    async def max(self, field: str) -> Any:
        """Largest value of ``field``.

        Example:
            >>> run(User.filter_by().max("created_at")) is None
            True
        """
        return await self._aggregate(func.max, field)

    async def avg(self, field: str) -> Any:
        """Average of ``field``.

        Example:
            >>> run(User.filter_by().avg("id")) is None
            True
        """
        return await self._aggregate(func.avg, field)

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
        keys, rows = await self._rows(self._values_statement(self._value_refs(fields)))
        return [dict(zip(keys, row, strict=True)) for row in rows]

    async def values_list(self, *fields: str, flat: bool = False) -> list[Any]:
        """Rows as tuples of the named fields; ``flat=True`` with one field gives plain values.

        Example:
            >>> _ = run(User.create(email="kim@example.com", name="Kim"))
            >>> run(User.filter_by().values_list("email", flat=True))
            ['kim@example.com']
        """
        if flat and len(fields) != 1:
            raise InvalidValueError("values_list(flat=True) takes exactly one field name.")
        _, rows = await self._rows(self._values_statement(self._value_refs(fields)))
        if flat:
            return [row[0] for row in rows]
        return [tuple(row) for row in rows]

    def _describe(self) -> str:
        return "the query's conditions" if self._conditions else "the query"

    def __repr__(self) -> str:
        return f"<Query of {_name(self._model)}: {self.statement()}>"


def _name(model: type[Any]) -> str:
    return model.__name__


def _primary_key(model: type[Any]) -> list[Any]:
    return list(inspect(model).primary_key)


def _non_negative(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidValueError(f"{name} takes a whole number >= 0, got {value!r}.")
    return value


def _positive(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidValueError(f"{name} takes a whole number >= 1, got {value!r}.")
    return value
