"""``GroupedQuery``: a query's rows in groups, one dict of aggregates per group.

``Book.group_by("author_id").having(n__gt=1).order_by("-total")`` holds the
keys (checked at once), the HAVING conditions and the order; ``aggregate(...)``
names the aggregates, checks every name and value against them, and runs one
``SELECT ... GROUP BY``. Group keys may be fields, to-one paths (outer joins
that skip soft-deleted rows), annotations or SQLAlchemy columns.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Generic, Protocol, Self, TypeVar

from sqlalchemy import Select, select
from sqlalchemy.sql import ColumnElement
from sqlalchemy.sql.expression import ColumnClause, Label

from ._annotation_paths import GroupCompiler, LiveJoinPlan
from ._annotation_sql import as_sql, check_name
from ._expressions import Expression, ExpressionCompiler, compile_expression
from ._lookups import Q
from ._named_lookups import named_sort_keys, resolve_named
from ._paths import FieldRef, resolve_field_ref
from ._query_building import whole_number
from ._row_dicts import rows_as_dicts
from .exceptions import InvalidFieldError, InvalidValueError

__all__ = ["GroupedQuery"]

M = TypeVar("M")
M_co = TypeVar("M_co", covariant=True)


class GroupSource(Protocol[M_co]):
    """What a grouped query needs of the query it groups (a ``Query``)."""

    _annotations: dict[str, ColumnElement[Any]]

    @property
    def model(self) -> type[M_co]: ...

    def _where(self) -> list[ColumnElement[bool]]: ...

    async def _rows(self, statement: Any, operation: str) -> tuple[list[str], Sequence[Any]]: ...


class GroupedQuery(Generic[M]):
    """Groups of a query's rows; start one with ``Model.group_by(...)`` or ``query.group_by(...)``.

    Example:
        >>> from sqlrecord import Count, Max, Sum
        >>> kim = run(User.create(email="kim@example.com", name="Kim"))
        >>> for title in ("a", "b"):
        ...     _ = run(Post.create(title=title, author=kim))
        >>> grouped = Post.group_by("author__name").having(n__gte=2).order_by("-n")
        >>> run(grouped.aggregate(n=Count("id"), last=Max("title")))
        [{'author__name': 'Kim', 'n': 2, 'last': 'b'}]
    """

    __slots__ = ("_having", "_keys", "_limit", "_offset", "_order", "_query")

    def __init__(self, query: GroupSource[M], keys: tuple[str | Any, ...]) -> None:
        if not keys:
            raise InvalidValueError("group_by() takes at least one field name or column.")
        self._query = query
        self._keys: dict[str, FieldRef | ColumnElement[Any]] = {}
        for key in keys:
            name, target = self._key(key)
            if name in self._keys:
                raise InvalidValueError(f"group_by() takes each key once; {name!r} is repeated.")
            self._keys[name] = target
        self._having: tuple[Any, ...] = ()
        self._order: tuple[str | Any, ...] = ()
        self._limit: int | None = None
        self._offset: int | None = None

    def _key(self, key: str | Any) -> tuple[str, FieldRef | ColumnElement[Any]]:
        if isinstance(key, str):
            named = self._query._annotations
            if key in named:
                return key, named[key]
            return key, resolve_field_ref(self._query.model, key, purpose="group by")
        raw = as_sql(key)
        name = (
            raw.name
            if isinstance(raw, Label)
            else raw.key
            if isinstance(raw, ColumnClause)
            else None
        )
        if raw is None or not isinstance(name, str) or not name.isidentifier():
            raise InvalidValueError(
                f"group_by() takes field names or named SQLAlchemy columns; give an expression "
                f"a name with .label('name'), got {key!r:.60}."
            )
        return name, raw

    def _copy(self) -> Self:
        clone = object.__new__(type(self))
        for name in GroupedQuery.__slots__:
            setattr(clone, name, getattr(self, name))
        return clone

    def having(self, /, *conditions: ColumnElement[bool] | Q, **lookups: Any) -> Self:
        """Keep the groups that match: lookups on the aggregates' and keys' names
        (``n__gt=1``), ``Q`` objects of them, or SQLAlchemy conditions; checked
        against the aggregates when :meth:`aggregate` names them, before any SQL.

        Example:
            >>> from sqlrecord import Count, Sum
            >>> run(Post.group_by("author_id").having(n__gt=1).aggregate(n=Count("id")))
            []
        """
        for condition in conditions:
            if not isinstance(condition, Q | ColumnElement):
                raise InvalidValueError(
                    f"having() takes Q objects and SQLAlchemy conditions, got {condition!r:.60}."
                )
        clone = self._copy()
        clone._having = (*self._having, *conditions, *((Q(**lookups),) if lookups else ()))
        return clone

    def order_by(self, *keys: str | Any) -> Self:
        """Sort the groups by key or aggregate names (``"-total"``) or SQLAlchemy expressions.

        Example:
            >>> from sqlrecord import Count, Sum
            >>> run(Post.group_by("author_id").order_by("-n").aggregate(n=Count("id")))
            []
        """
        for key in keys:
            if not isinstance(key, str) and as_sql(key) is None:
                raise InvalidValueError(
                    f"order_by() takes names or SQLAlchemy expressions, got {key!r:.60}."
                )
        clone = self._copy()
        clone._order = keys
        return clone

    def limit(self, count: int) -> Self:
        """Return at most ``count`` groups.

        Example:
            >>> from sqlrecord import Count, Sum
            >>> run(Post.group_by("author_id").limit(1).aggregate(n=Count("id")))
            []
        """
        clone = self._copy()
        clone._limit = whole_number("limit", count, at_least=0)
        return clone

    def offset(self, count: int) -> Self:
        """Skip the first ``count`` groups.

        Example:
            >>> from sqlrecord import Count, Sum
            >>> run(Post.group_by("author_id").offset(1).aggregate(n=Count("id")))
            []
        """
        clone = self._copy()
        clone._offset = whole_number("offset", count, at_least=0)
        return clone

    def statement(self, /, **aggregates: Any) -> Select[Any]:
        """The ``SELECT ... GROUP BY`` that :meth:`aggregate` runs (for inspection).

        Example:
            >>> from sqlrecord import Count, Sum
            >>> print(Post.group_by("author_id").statement(n=Count("id")))  # doctest: +ELLIPSIS
            SELECT doc_posts.author_id AS author_id, ... GROUP BY doc_posts.author_id
        """
        query, model = self._query, self._query.model
        plan = LiveJoinPlan(model)
        keys = {
            name: plan.column(target) if isinstance(target, FieldRef) else target
            for name, target in self._keys.items()
        }
        compiler = GroupCompiler(model, query._annotations, plan, keys)
        values: dict[str, ColumnElement[Any]] = {}
        for name, value in aggregates.items():
            check_name(model, name, (*keys, *values), call="aggregate")
            values[name] = compiler.compile(name, value)
        named = {**keys, **values}

        def compile_value(value: Any) -> Any:
            if not isinstance(value, Expression):
                return value
            inner = ExpressionCompiler(
                field=compiler.outside, aggregate=compiler.aggregate, context="having()"
            )
            return compile_expression(value, inner)

        def plain(lookups: dict[str, Any]) -> ColumnElement[bool]:
            name = next(iter(lookups))
            raise InvalidFieldError(
                f"having() takes lookups on the group keys and aggregates "
                f"({', '.join(named)}); {name!r} is neither. Filter rows before "
                "grouping with filter_by().",
                model=model.__name__,
                field=name,
                valid=list(named),
            )

        having = [
            resolve_named(condition, named, plain, compile_value=compile_value)
            for condition in self._having
        ]
        order = [term for key in self._order for term in self._sort_terms(key, named)]
        statement = select(*(sql.label(name) for name, sql in named.items())).select_from(model)
        statement = plan.apply(statement)
        where = query._where()
        if where:
            statement = statement.where(*where)
        statement = statement.group_by(*keys.values())
        if having:
            statement = statement.having(*having)
        if order:
            statement = statement.order_by(*order)
        if self._limit is not None:
            statement = statement.limit(self._limit)
        if self._offset is not None:
            statement = statement.offset(self._offset)
        return statement

    def _sort_terms(self, key: str | Any, named: dict[str, ColumnElement[Any]]) -> list[Any]:
        if not isinstance(key, str):
            return [key]
        name = key.lstrip("-+")
        if name not in named:
            raise InvalidFieldError(
                f"Cannot sort groups by {name!r}: order_by() takes the names of the group "
                f"keys and aggregates ({', '.join(named)}).",
                model=self._query.model.__name__,
                field=name,
                valid=list(named),
            )
        return [key.raw for key in named_sort_keys(named[name], descending=key.startswith("-"))]

    async def aggregate(self, /, **aggregates: Any) -> list[dict[str, Any]]:
        """One dict per group: the group keys and the named aggregates.

        Example:
            >>> from sqlrecord import Count, Sum
            >>> run(Post.group_by("author_id").aggregate(n=Count("id"), pages=Sum("id")))
            []
        """
        if not aggregates:
            raise InvalidValueError("aggregate() needs at least one name=aggregate.")
        statement = self.statement(**aggregates)
        keys, rows = await self._query._rows(statement, "group_by")
        return rows_as_dicts(keys, rows)

    def __repr__(self) -> str:
        return f"<GroupedQuery of {self._query.model.__name__} by {', '.join(self._keys)}>"
