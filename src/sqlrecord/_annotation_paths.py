"""Expressions compiled against a model for ``annotate``, ``aggregate`` and ``group_by``.

Two ways of reaching a field, one per context:

- **per row** (:class:`RowCompiler`, for ``annotate``): every value stands on its
  own in any statement over the model (the SELECT, the WHERE of ``count()``,
  ORDER BY). A field of the row is its column; anything reached through a
  relationship is a correlated scalar subquery: the model aliased, joined along
  the relationship path, matched to the outer row by primary key. So
  ``Count("books")`` and ``Count("reviews")`` side by side never multiply each
  other's rows, and a parent row is never repeated; secondary tables and
  self-referential relationships join as the relationship says.
- **per group** (:class:`GroupCompiler`, for ``aggregate`` and ``group_by``): the
  rows of the query itself are aggregated, so only fields of the row, to-one
  paths (outer joins) and annotations may be named; a to-many path would repeat
  rows and is refused, pointing at ``annotate``.

Related rows that are soft-deleted are left out everywhere (in the joins' ON
clauses), as ``load()`` leaves them out of loaded collections.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Select, and_, inspect, select
from sqlalchemy.orm import RelationshipProperty, aliased
from sqlalchemy.sql import ColumnElement

from ._annotation_sql import aggregate_sql, as_sql, check_nested
from ._expressions import (
    Aggregate,
    Expression,
    ExpressionCompiler,
    compile_expression,
    has_aggregate,
)
from ._model_info import model_info, sql_attribute
from ._paths import LOOKUP_SEPARATOR, FieldRef, field_names, is_field, walk_relations
from ._select_parts import JoinPlan
from ._soft import live_condition, soft_delete_column
from .exceptions import InvalidFieldError, InvalidValueError

__all__ = ["GroupCompiler", "LiveJoinPlan", "RowCompiler"]

Named = Mapping[str, ColumnElement[Any]]


class LiveJoinPlan(JoinPlan):
    """A :class:`JoinPlan` whose outer joins skip soft-deleted rows."""

    __slots__ = ()

    def apply(self, statement: Select[Any]) -> Select[Any]:
        for path, alias in self.aliases.items():
            parent = self.model if len(path) == 1 else self.aliases[path[:-1]]
            statement = statement.outerjoin(alias, _onclause(parent, path[-1], alias))
        return statement


def _onclause(parent: Any, key: str, alias: Any) -> Any:
    onclause = getattr(parent, key).of_type(alias)
    if soft_delete_column(inspect(alias).mapper.class_) is not None:
        onclause = onclause.and_(live_condition(alias))
    return onclause


def _unknown(model: type[Any], key: str, part: str, named: Named) -> InvalidFieldError:
    valid = [*field_names(model), *model_info(model).relation_names, *named]
    return InvalidFieldError(
        f"{model.__name__} has no field, relationship or annotation {part!r} (in {key!r}). "
        f"Valid names: {', '.join(valid)}.",
        model=model.__name__,
        field=part,
        valid=valid,
    )


def _parts(model: type[Any], key: str, named: Named) -> list[str]:
    parts = key.split(LOOKUP_SEPARATOR)
    if not all(parts):
        raise _unknown(model, key, key, named)
    return parts


class _Inner:
    """The correlated subquery of one per-row value: the model aliased, joined along paths."""

    def __init__(self, model: type[Any]) -> None:
        self.model = model
        self.root: Any = aliased(model)
        self.aliases: dict[tuple[str, ...], Any] = {}

    def entity(self, relations: Sequence[RelationshipProperty[Any]]) -> Any:
        entity = self.root
        for depth in range(1, len(relations) + 1):
            path = tuple(relation.key for relation in relations[:depth])
            if path not in self.aliases:
                self.aliases[path] = (
                    relations[depth - 1],
                    aliased(relations[depth - 1].mapper.class_),
                )
            entity = self.aliases[path][1]
        return entity

    def subquery(self, column: ColumnElement[Any]) -> ColumnElement[Any]:
        first = [path for path in self.aliases if len(path) == 1]
        if len(first) == 1:
            relation, alias = self.aliases[first[0]]
            correlation = _correlation(relation, alias)
            if correlation is not None:
                # The first hop's rows matched to the outer row by the relationship's own
                # columns: no second copy of the model's table to join and match by key.
                statement = self._joined(select(column).select_from(alias), skip=first[0])
                return statement.where(*correlation).scalar_subquery()
        statement = self._joined(select(column).select_from(self.root), skip=None)
        keys = model_info(self.model).primary_key_names
        statement = statement.where(
            *(getattr(self.root, key) == getattr(self.model, key) for key in keys)
        )
        return statement.scalar_subquery()

    def _joined(self, statement: Select[Any], *, skip: tuple[str, ...] | None) -> Select[Any]:
        for path, (relation, alias) in self.aliases.items():
            if path == skip:
                continue
            parent = self.root if len(path) == 1 else self.aliases[path[:-1]][1]
            onclause = _onclause(parent, relation.key, alias)
            # A to-many hop must have rows; a to-one hop may be missing (NULL, not no row).
            statement = (
                statement.join(onclause) if relation.uselist else statement.outerjoin(onclause)
            )
        return statement


def _correlation(relation: RelationshipProperty[Any], alias: Any) -> list[Any] | None:
    """WHERE terms matching ``alias`` (the relationship's target) to the outer row, when the
    relationship joins by plain column equalities and no association table; else ``None``."""
    if relation.secondary is not None:
        return None
    pairs = list(relation.local_remote_pairs or ())
    if not pairs or not relation.primaryjoin.compare(and_(*(a == b for a, b in pairs))):
        return None
    selectable = inspect(alias).selectable
    terms: list[Any] = []
    for local, remote in pairs:
        aliased_remote = selectable.corresponding_column(remote)
        if aliased_remote is None:
            return None
        terms.append(local == aliased_remote)
    if soft_delete_column(relation.mapper.class_) is not None:
        terms.append(live_condition(alias))
    return terms


class RowCompiler:
    """Compiles what ``annotate()`` takes, for the rows of ``model`` (see the module)."""

    def __init__(self, model: type[Any], named: Named) -> None:
        self.model = model
        self.named = named

    def compile(self, name: str, value: Any) -> ColumnElement[Any]:
        raw = as_sql(value)
        if raw is not None:
            return raw  # the caller's own SQL, correlated by the caller
        if not isinstance(value, Expression):
            raise InvalidValueError(
                f"annotate({name}=...) takes F('field'), an aggregate (Count('books')), "
                f"Coalesce(...), arithmetic of these, or a SQLAlchemy expression; got "
                f"{type(value).__name__} {value!r:.40}."
            )
        compiler = ExpressionCompiler(
            field=self.field, aggregate=self.aggregate, context="annotate()"
        )
        compiled: ColumnElement[Any] = compile_expression(value, compiler)
        return compiled

    def field(self, key: str) -> ColumnElement[Any]:
        """A field of the row, an earlier annotation, or a to-one path (a subquery)."""
        if key in self.named:
            return self.named[key]
        parts = _parts(self.model, key, self.named)
        walk = walk_relations(self.model, parts[:-1])
        for owner, relation in zip(walk.owners, walk.relations, strict=True):
            if relation.uselist:
                raise InvalidFieldError(
                    f"F({key!r}) in annotate(): {owner.__name__}.{relation.key} is a to-many "
                    "relationship, which gives several values per row. Aggregate it instead "
                    f"(Count, Sum, Min, Max, Avg): Max({key!r}).",
                    model=owner.__name__,
                    field=relation.key,
                    valid=field_names(owner),
                )
        if walk.rest or not is_field(walk.target, parts[-1]):
            raise _unknown(walk.target, key, (*walk.rest, parts[-1])[0], self.named)
        if not walk.relations:
            column: ColumnElement[Any] = sql_attribute(self.model, parts[-1])
            return column
        inner = _Inner(self.model)
        return inner.subquery(sql_attribute(inner.entity(walk.relations), parts[-1]))

    def aggregate(self, aggregate: Aggregate) -> ColumnElement[Any]:
        """``aggregate`` over the row's related rows, as a correlated subquery."""
        check_nested(aggregate)
        inner = _Inner(self.model)
        spines: set[tuple[str, ...]] = set()
        source = aggregate.source
        if isinstance(source, str):
            column = self._path(inner, source, aggregate, spines)
        elif isinstance(source, Expression):
            compiler = ExpressionCompiler(
                field=lambda key: self._path(inner, key, None, spines),
                context=f"the argument of {aggregate!r}",
            )
            column = compile_expression(source, compiler)
        else:
            raise InvalidValueError(
                f"{type(aggregate).__name__}(<SQLAlchemy expression>) cannot be correlated "
                "to each row in annotate(); name the path (Count('books')) or pass your own "
                "correlated subquery: select(func.count(...)).where(...).scalar_subquery()."
            )
        if len(spines) > 1:
            raise InvalidValueError(
                f"{aggregate!r} reaches rows through different to-many paths "
                f"({', '.join('__'.join(spine) for spine in sorted(spines))}), whose rows "
                "would multiply each other; use one aggregate per path and combine them: "
                "Sum('books__pages') + Sum('articles__words')."
            )
        return inner.subquery(aggregate_sql(aggregate, column))

    def _path(
        self, inner: _Inner, key: str, aggregate: Aggregate | None, spines: set[tuple[str, ...]]
    ) -> ColumnElement[Any]:
        if key in self.named:
            raise InvalidValueError(
                f"An aggregate's argument cannot be the annotation {key!r}: it is a value per "
                "row already. Aggregate the rows of a query over it with aggregate(), or name "
                "the related field."
            )
        parts = _parts(self.model, key, self.named)
        walk = walk_relations(self.model, parts)
        if walk.rest:
            if len(walk.rest) > 1 or not is_field(walk.target, walk.rest[0]):
                raise _unknown(walk.target, key, walk.rest[0], self.named)
            column: ColumnElement[Any] = sql_attribute(inner.entity(walk.relations), walk.rest[0])
        elif aggregate is not None and aggregate.function == "count":
            target = walk.target
            column = sql_attribute(
                inner.entity(walk.relations), model_info(target).primary_key_names[0]
            )
        else:
            raise InvalidFieldError(
                f"{key!r} names a relationship, not a field; only Count takes one "
                f"(Count({key!r})). Name one of its fields: {key}__<field>.",
                model=walk.target.__name__,
                field=key,
                valid=field_names(walk.target),
            )
        last_many = max(
            (depth for depth, relation in enumerate(walk.relations, 1) if relation.uselist),
            default=0,
        )
        if last_many:
            spines.add(tuple(parts[:last_many]))
        return column


class GroupCompiler:
    """Compiles what ``aggregate()`` takes, over the query's own rows (see the module).

    ``keys``: the group keys' SQL by name, the only fields that may stand outside
    an aggregate (``Sum("pages") / F("author_id")`` is refused without them).
    """

    def __init__(
        self, model: type[Any], named: Named, plan: JoinPlan, keys: Named | None = None
    ) -> None:
        self.model = model
        self.named = named
        self.plan = plan
        self.keys = keys or {}

    def compile(self, name: str, value: Any) -> ColumnElement[Any]:
        raw = as_sql(value)
        if raw is not None:
            return raw
        if not isinstance(value, Expression) or not has_aggregate(value):
            raise InvalidValueError(
                f"aggregate({name}=...) takes an aggregate (Count, Sum, Avg, Min, Max), an "
                f"expression of aggregates (Coalesce(Sum('pages'), 0)) or a SQLAlchemy "
                f"expression; got {value!r:.60}."
            )
        compiler = ExpressionCompiler(
            field=self.outside, aggregate=self.aggregate, context="aggregate()"
        )
        compiled: ColumnElement[Any] = compile_expression(value, compiler)
        return compiled

    def outside(self, key: str) -> ColumnElement[Any]:
        if key in self.keys:
            return self.keys[key]
        raise InvalidValueError(
            f"F({key!r}) stands outside an aggregate in aggregate(): it has one value per "
            f"row, not per group. Aggregate it (Max({key!r})) or group by it"
            + (f" (group keys: {', '.join(self.keys)})." if self.keys else ".")
        )

    def field(self, key: str) -> ColumnElement[Any]:
        """A field of the row, an annotation, or a to-one path (an outer join)."""
        if key in self.named:
            return self.named[key]
        parts = _parts(self.model, key, self.named)
        walk = walk_relations(self.model, parts)
        self._refuse_to_many(key, walk.owners, walk.relations)
        if not walk.rest:
            if not walk.relations:
                raise _unknown(self.model, key, parts[0], self.named)
            # A to-one path that ends on the relationship: its primary key (Count("author")).
            pk = model_info(walk.target).primary_key_names[0]
            return self.plan.column(FieldRef(key, walk.relations, walk.target, pk, True))  # type: ignore[no-any-return]
        if len(walk.rest) > 1 or not is_field(walk.target, walk.rest[0]):
            raise _unknown(walk.target, key, walk.rest[0], self.named)
        ref = FieldRef(key, walk.relations, walk.target, walk.rest[0], True)
        return self.plan.column(ref)  # type: ignore[no-any-return]

    def _refuse_to_many(
        self,
        key: str,
        owners: Sequence[type[Any]],
        relations: Sequence[RelationshipProperty[Any]],
    ) -> None:
        for owner, relation in zip(owners, relations, strict=True):
            if relation.uselist:
                raise InvalidFieldError(
                    f"{key!r}: {owner.__name__}.{relation.key} is a to-many relationship, "
                    f"whose rows would repeat the {self.model.__name__} rows being "
                    f"aggregated. Annotate each row first: "
                    f"{self.model.__name__}.annotate(n=Count({key!r})), then aggregate "
                    "over 'n'.",
                    model=owner.__name__,
                    field=relation.key,
                    valid=field_names(owner),
                )

    def aggregate(self, aggregate: Aggregate) -> ColumnElement[Any]:
        check_nested(aggregate)
        source = aggregate.source
        if isinstance(source, str):
            column = self.field(source)
        elif isinstance(source, Expression):
            column = compile_expression(
                source,
                ExpressionCompiler(field=self.field, context=f"the argument of {aggregate!r}"),
            )
        else:
            column = source  # a SQLAlchemy expression, as Aggregate's constructor checked
        return aggregate_sql(aggregate, column)
