"""What a ``Query`` asks for, and the SELECT it makes: the chaining half of the query.

Each chained call returns a new, changed copy (the state is in ``__slots__``,
copied slot by slot) and checks what it is given at once: lookups, sort keys
and loader paths raise before any SQL exists. Nothing here runs SQL; the
terminals (``_query_reads``, ``_query_pages``, ``_query_writes``,
``_query_records``) build on :class:`QueryBuilding` and ``Query`` joins them.
"""

from __future__ import annotations

from typing import Any, Self, TypeVar

from sqlalchemy import Select, inspect, select, tuple_
from sqlalchemy.orm import with_loader_criteria
from sqlalchemy.sql import ColumnElement

from ._load_shape import shape_options
from ._lookups import Q, build_condition, resolve_q
from ._query_state import QueryState
from ._select_parts import JoinPlan, SortKey, loader_option, order_expressions, resolve_sort_key
from ._soft import deleted_condition, live_condition, require_soft_delete, soft_delete_column
from .exceptions import InvalidValueError

__all__ = ["QueryBuilding", "primary_key_columns", "whole_number"]

M = TypeVar("M")


class QueryBuilding(QueryState[M]):
    """The chaining methods of a query and the SELECT they make; :class:`~sqlrecord.Query` is one.

    Example:
        >>> query = User.filter_by(name="Kim").order_by("-id").limit(2)
        >>> print(query.statement())  # doctest: +ELLIPSIS
        SELECT ... WHERE doc_users.name = :name_1 ORDER BY doc_users.id DESC LIMIT :param_1
    """

    __slots__ = ()

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
        clone._limit = whole_number("limit", count, at_least=0)
        return clone

    def offset(self, count: int) -> Self:
        """Skip the first ``count`` rows.

        Example:
            >>> print(User.filter_by().offset(10).statement())  # doctest: +ELLIPSIS
            SELECT ... OFFSET :param_1
        """
        clone = self._copy()
        clone._offset = whole_number("offset", count, at_least=0)
        return clone

    def distinct(self) -> Self:
        """Each object once, and ``values()``/``values_list()`` rows once each.

        A ``filter()`` condition on another table (through a collection) repeats an
        object per matching row; with ``distinct()`` it comes once, and ``limit``,
        ``offset``, ``count()`` and the aggregates count distinct objects. The
        SELECT keeps its shape (``WHERE pk IN (SELECT pk ...)``, no ``SELECT
        DISTINCT`` over the columns), so JSON columns and any order are fine.

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
        """Include soft-deleted rows (see :class:`~sqlrecord.SoftDeleteMixin`; other models
        refuse it with :class:`~sqlrecord.exceptions.ConfigurationError`).

        Example:
            >>> Memo.filter_by().with_deleted().model is Memo
            True
        """
        require_soft_delete(self._model, "with_deleted()")
        clone = self._copy()
        clone._with_deleted, clone._only_deleted = True, False
        return clone

    # -- statements ------------------------------------------------------

    @property
    def _uniquing(self) -> bool:
        """Whether the objects of the result are de-duplicated by identity: a joined
        collection load repeats its parent row (raw ``options()`` may add one), and
        ``distinct()`` promises each object once."""
        return self._unique or self._distinct or bool(self._options)

    def _shaped(self) -> str | None:
        """What of this query a model-level call (``create``, ``get``) would ignore, if any."""
        shapes = {
            "filters": self._conditions,
            "ordering": self._order,
            "limit": self._limit is not None or self._offset is not None,
            "loading": self._loads or self._options,
            "only()/defer()": self._only is not None or self._deferred,
            "distinct()": self._distinct,
            "for_update()": self._for_update is not None,
            "populate_existing()": self._populate,
        }
        return next((name for name, given in shapes.items() if given), None)

    def _where(self) -> list[ColumnElement[bool]]:
        conditions = list(self._conditions)
        if self._only_deleted:
            conditions.append(deleted_condition(self._model))
        elif not self._with_deleted and soft_delete_column(self._model) is not None:
            conditions.append(live_condition(self._model))
        return conditions

    def _object_where(self) -> list[ColumnElement[bool]]:
        """``_where()``, or after ``distinct()`` where a condition reaches another table,
        ``pk IN (SELECT pk ... WHERE ...)``: each object once, its columns never compared."""
        where = self._where()
        if not self._distinct or not where:
            return where
        keys = primary_key_columns(self._model)
        base = select(*keys).select_from(self._model)
        chosen = base.where(*where)
        if set(chosen.get_final_froms()) == set(base.get_final_froms()):
            return where  # the model's own rows only: each is one object already
        inner = chosen.correlate(None)
        return [keys[0].in_(inner) if len(keys) == 1 else tuple_(*keys).in_(inner)]

    def statement(self) -> Select[Any]:
        """The SQLAlchemy ``Select`` this query runs (for inspection or raw use).

        Example:
            >>> print(User.filter_by(id=1).statement())  # doctest: +ELLIPSIS
            SELECT doc_users.id, ... FROM doc_users WHERE doc_users.id = :id_1
        """
        return self._select(select(self._model), JoinPlan(self._model), nulls=True, objects=True)

    def _select(
        self, statement: Select[Any], plan: JoinPlan, *, nulls: bool, objects: bool = False
    ) -> Select[Any]:
        """The query's SELECT from ``statement``; loader options only where it selects
        ``objects`` (SQLAlchemy refuses them on a SELECT of columns)."""
        order = order_expressions(plan, self._order, nulls=nulls)
        statement = plan.apply(statement)
        where = self._object_where()
        if where:
            statement = statement.where(*where)
        if order:
            statement = statement.order_by(*order)
        if self._limit is not None:
            statement = statement.limit(self._limit)
        if self._offset is not None:
            statement = statement.offset(self._offset)
        if objects and (self._loads or self._options or self._only is not None or self._deferred):
            shape = shape_options(self._model, self._only, self._deferred)
            statement = statement.options(*self._loads, *self._options, *shape)
        if self._for_update is not None:
            read, skip_locked, nowait = self._for_update
            statement = statement.with_for_update(read=read, skip_locked=skip_locked, nowait=nowait)
        if self._populate:
            statement = statement.execution_options(populate_existing=True)
        return statement


def primary_key_columns(model: type[Any]) -> list[Any]:
    """The primary-key columns of ``model``, in key order.

    Example:
        >>> [column.name for column in primary_key_columns(User)]
        ['id']
    """
    return list(inspect(model).primary_key)


def whole_number(name: str, value: int, *, at_least: int) -> int:
    """``value`` if it is an ``int`` (not a bool) ``>= at_least``; else ``InvalidValueError``.

    Example:
        >>> whole_number("limit", 0, at_least=1)
        Traceback (most recent call last):
        ...
        sqlrecord.exceptions.InvalidValueError: limit takes a whole number >= 1, got 0.
    """
    if isinstance(value, bool) or not isinstance(value, int) or value < at_least:
        raise InvalidValueError(f"{name} takes a whole number >= {at_least}, got {value!r}.")
    return value
