"""Annotations and aggregates on a query: ``annotate``, ``aggregate`` and ``group_by``.

``annotate(n=Count("books"))`` adds a named value per row: each object gets it
as an attribute, and lookups (``filter_by(n__gt=2)``, ``exclude``, ``Q``),
``order_by("-n")`` and ``values("name", "n")`` take the name. Each annotation
is a self-contained SQL expression (see ``_annotation_paths``), so ``count()``,
``exists()``, ``paginate()`` and bulk writes keep working with filters on it
(``cursor()`` and ``stream()`` refuse annotated queries: see ``_query_pages``).
``aggregate(...)`` reduces the matching rows to one dict; ``group_by(...)``
gives a :class:`~sqlrecord.GroupedQuery` whose ``aggregate`` gives one dict per
group. Names are checked when given, values before any SQL.
"""

from __future__ import annotations

from typing import Any, Self, TypeVar

from sqlalchemy import select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import ColumnElement

from ._annotation_paths import GroupCompiler, LiveJoinPlan, RowCompiler
from ._annotation_sql import check_name
from ._expressions import Expression, ExpressionCompiler, compile_expression
from ._grouped import GroupedQuery
from ._lookups import Q
from ._model_info import model_info
from ._named_lookups import named_condition, named_sort_keys, resolve_named, split_named
from ._paths import resolve_field_ref
from ._query_building import primary_key_columns
from ._query_reads import QueryReads
from ._query_writes import QueryWrites
from ._row_dicts import rows_as_dicts
from ._select_parts import JoinPlan, SortKey
from .exceptions import InvalidFieldError, InvalidValueError

__all__ = ["QueryAnnotations"]

M = TypeVar("M")


class QueryAnnotations(QueryReads[M], QueryWrites[M]):
    """``annotate``, ``aggregate`` and ``group_by``, mixed into :class:`~sqlrecord.Query`.

    Example:
        >>> from sqlrecord import Count
        >>> kim = run(User.create(email="kim@example.com"))
        >>> _ = run(Post.create(title="Hello", author=kim))
        >>> [(user.email, user.n) for user in run(User.annotate(n=Count("posts")).all())]
        [('kim@example.com', 1)]
    """

    __slots__ = ()

    # -- chaining ---------------------------------------------------------

    def annotate(self, /, **annotations: Any) -> Self:
        """Add named values per row: ``Count("books")``, ``Sum("books__pages")``,
        ``F("price") * F("qty")``, ``Coalesce(...)``, ``F("author__name")``, or a
        SQLAlchemy expression (correlate a subquery yourself).

        Aggregates over relationships are correlated subqueries: rows are never
        repeated and two of them never multiply each other; soft-deleted related
        rows are not counted. ``Count`` over no rows is 0, ``Sum``/``Min``/``Max``/
        ``Avg`` are ``None`` (``Coalesce(Sum(...), 0)`` gives 0).

        Example:
            >>> from sqlrecord import Count
            >>> kim = run(User.create(email="kim@example.com"))
            >>> _ = run(Post.create(title="Hello", author=kim))
            >>> query = User.annotate(n=Count("posts")).filter_by(n__gte=1).order_by("-n")
            >>> [user.n for user in run(query.all())], run(query.count())
            ([1], 1)
        """
        named = dict(self._annotations)
        compiler = RowCompiler(self._model, named)
        for name, value in annotations.items():
            check_name(self._model, name, named, call="annotate")
            named[name] = compiler.compile(name, value)
        clone = self._copy()
        clone._annotations = named
        return clone

    def filter_by(self, /, **lookups: Any) -> Self:
        if not self._annotations:
            return super().filter_by(**lookups)
        mine, others = split_named(lookups, self._annotations)
        try:
            query = super().filter_by(**others)._copy()
        except InvalidFieldError as error:
            raise self._listing_annotations(error) from None
        query._conditions = (
            *query._conditions,
            *(
                named_condition(self._annotations, key, value, compile_value=self._row_value)
                for key, value in mine.items()
            ),
        )
        return query

    def filter(self, *conditions: ColumnElement[bool] | Q) -> Self:
        if not self._annotations:
            return super().filter(*conditions)
        resolved = tuple(
            resolve_named(condition, self._annotations, self._plain, compile_value=self._row_value)
            for condition in conditions
        )
        return super().filter(*resolved)

    def exclude(self, /, **lookups: Any) -> Self:
        if not self._annotations:
            return super().exclude(**lookups)
        return self.filter(~Q(**lookups)) if lookups else self

    def order_by(self, *keys: str | Any) -> Self:
        if not self._annotations:
            return super().order_by(*keys)
        order: list[SortKey] = []
        for key in keys:
            name = key.lstrip("-+") if isinstance(key, str) else None
            if name in self._annotations:
                expression = self._annotations[name]
                order += named_sort_keys(expression, descending=key.startswith("-"))
                continue
            try:
                order += super().order_by(key)._order
            except InvalidFieldError as error:
                raise self._listing_annotations(error) from None
        clone = self._copy()
        clone._order = tuple(order)
        return clone

    def _plain(self, lookups: dict[str, Any]) -> ColumnElement[bool]:
        try:
            return Q(**lookups).resolve(self._model)
        except InvalidFieldError as error:
            raise self._listing_annotations(error) from None

    def _row_value(self, value: Any) -> Any:
        """A lookup value on an annotation: ``F(...)`` compiled per row, others as they are."""
        if not isinstance(value, Expression):
            return value
        compiler = RowCompiler(self._model, self._annotations)
        return compile_expression(
            value,
            ExpressionCompiler(
                field=compiler.field, aggregate=compiler.aggregate, context="a lookup value"
            ),
        )

    def _listing_annotations(self, error: InvalidFieldError) -> InvalidFieldError:
        names = ", ".join(self._annotations)
        return InvalidFieldError(
            f"{error.detail} Annotations: {names}.",
            model=error.model,
            field=error.field,
            valid=(*error.valid, *self._annotations),
        )

    def _shaped(self) -> str | None:
        return "annotate()" if self._annotations else super()._shaped()

    # -- reading ------------------------------------------------------------

    def statement(self) -> Any:
        if not self._annotations:
            return super().statement()
        labels = [expression.label(name) for name, expression in self._annotations.items()]
        return self._select(
            select(self._model, *labels), JoinPlan(self._model), nulls=True, objects=True
        )

    def _attach(self, row: Any) -> M:
        found: M = row[0]
        values = row[1 : 1 + len(self._annotations)]  # columns after them are the caller's
        for name, value in zip(self._annotations, values, strict=True):
            setattr(found, name, value)
        return found

    async def _objects(self, *, first: bool) -> list[M]:
        if not self._annotations:
            return await super()._objects(first=first)

        async def objects(session: AsyncSession) -> list[M]:
            result = await session.execute(self.statement())
            if self._unique:
                result = result.unique()
            rows = [result.first()] if first else result.all()
            return [self._attach(row) for row in rows if row is not None]

        return await self._read("first" if first else "all", objects)

    def _named_columns(self, fields: tuple[str, ...]) -> tuple[list[Any], JoinPlan]:
        names = fields or (*model_info(self._model).column_names, *self._annotations)
        plan = JoinPlan(self._model)
        columns: list[Any] = []
        for name in names:
            if name in self._annotations:
                columns.append(self._annotations[name].label(name))
                continue
            try:
                ref = resolve_field_ref(self._model, name, purpose="select")
            except InvalidFieldError as error:
                raise self._listing_annotations(error) from None
            columns.append(plan.column(ref).label(name))
        return columns, plan

    async def values(self, *fields: str) -> list[dict[str, Any]]:
        if not self._annotations:
            return await super().values(*fields)
        keys, rows = await self._rows(self._named_values(fields), "values")
        return rows_as_dicts(keys, rows)

    async def values_list(self, *fields: str, flat: bool = False) -> list[Any]:
        if not self._annotations:
            return await super().values_list(*fields, flat=flat)
        if flat and len(fields) != 1:
            raise InvalidValueError("values_list(flat=True) takes exactly one field name.")
        _, rows = await self._rows(self._named_values(fields), "values_list")
        return [row[0] for row in rows] if flat else [tuple(row) for row in rows]

    def _named_values(self, fields: tuple[str, ...]) -> Any:
        columns, plan = self._named_columns(fields)
        # FROM the model: a query of annotations alone would have the subqueries' tables only.
        statement = select(*columns).select_from(self._model)
        statement = self._select(statement, plan, nulls=not self._distinct)
        return statement.distinct() if self._distinct else statement

    def _target_condition(self) -> list[ColumnElement[bool]]:
        if not self._annotations:
            return super()._target_condition()
        # An annotation reads the table being changed, which MySQL refuses in an UPDATE's
        # WHERE unless the keys come from a derived table (materialised first).
        keys = primary_key_columns(self._model)
        chosen = self._select(select(*keys), JoinPlan(self._model), nulls=True).subquery()
        inner = select(*[chosen.c[key.key] for key in keys])
        return [keys[0].in_(inner) if len(keys) == 1 else tuple_(*keys).in_(inner)]

    # -- aggregates -------------------------------------------------------------

    def _check_aggregable(self, call: str) -> None:
        if self._limit is not None or self._offset is not None:
            raise InvalidValueError(
                f"{call} covers every matching row and takes no limit()/offset(); "
                "filter the rows instead (a grouped query has its own limit and offset)."
            )
        if self._for_update is not None:
            raise InvalidValueError(f"{call} locks no rows; drop for_update().")

    def aggregate_statement(self, /, **aggregates: Any) -> Any:
        """The SELECT :meth:`aggregate` runs (for inspection).

        Example:
            >>> from sqlrecord import Count
            >>> print(Post.filter_by(title="Hi").aggregate_statement(n=Count("id")))
            ... # doctest: +NORMALIZE_WHITESPACE
            SELECT count(doc_posts.id) AS n FROM doc_posts WHERE doc_posts.title = :title_1
        """
        self._check_aggregable("aggregate()")
        if not aggregates:
            raise InvalidValueError("aggregate() needs at least one name=aggregate.")
        plan = LiveJoinPlan(self._model)
        compiler = GroupCompiler(self._model, self._annotations, plan)
        columns: dict[str, ColumnElement[Any]] = {}
        for name, value in aggregates.items():
            check_name(self._model, name, columns, call="aggregate")
            columns[name] = compiler.compile(name, value)
        labels = [expression.label(name) for name, expression in columns.items()]
        statement = plan.apply(select(*labels).select_from(self._model))
        where = self._where()
        return statement.where(*where) if where else statement

    async def aggregate(self, /, **aggregates: Any) -> dict[str, Any]:
        """Aggregates over the matching rows, as one dict (soft-deleted rows left out).

        Example:
            >>> from sqlrecord import Count, Min
            >>> _ = run(User.create(email="kim@example.com", name="Kim"))
            >>> run(User.filter_by().aggregate(n=Count("id"), first=Min("email")))
            {'n': 1, 'first': 'kim@example.com'}
        """
        keys, rows = await self._rows(self.aggregate_statement(**aggregates), "aggregate")
        return dict(zip(keys, rows[0], strict=True))

    def group_by(self, *keys: str | Any) -> GroupedQuery[M]:
        """Group the matching rows by fields (``"author_id"``, ``"author__name"``),
        annotations or SQLAlchemy columns; aggregate each group with
        :meth:`GroupedQuery.aggregate <sqlrecord.GroupedQuery.aggregate>`.

        Example:
            >>> from sqlrecord import Count
            >>> kim = run(User.create(email="kim@example.com"))
            >>> for title in ("a", "b"):
            ...     _ = run(Post.create(title=title, author=kim))
            >>> run(Post.group_by("author_id").aggregate(n=Count("id")))
            [{'author_id': 1, 'n': 2}]
        """
        self._check_aggregable("group_by()")
        return GroupedQuery(self, keys)
