"""The parts of a SELECT that come from strings: sort keys, value fields, loader paths.

Each string is checked against the model here, before any SQL exists. Paths
through many-to-one relationships (``author__name``) become outer joins to
aliased tables, one alias per path, so the same table can be reached twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, inspect
from sqlalchemy.orm import (
    Load,
    RelationshipProperty,
    aliased,
    immediateload,
    joinedload,
    selectinload,
    subqueryload,
)

from .exceptions import InvalidFieldError
from .introspection import model_info, sql_attribute
from .lookups import LOOKUP_SEPARATOR

__all__ = [
    "LOAD_STRATEGIES",
    "FieldRef",
    "JoinPlan",
    "SortKey",
    "loader_option",
    "order_expressions",
    "resolve_field_ref",
    "resolve_sort_key",
]

_LOADERS = {
    "selectin": selectinload,
    "joined": joinedload,
    "subquery": subqueryload,
    "immediate": immediateload,
}
#: Loading strategies ``load()`` accepts; ``auto`` is selectin for collections, joined otherwise.
LOAD_STRATEGIES = ("auto", *_LOADERS)


@dataclass(frozen=True)
class FieldRef:
    """A field reached through zero or more many-to-one relationships."""

    key: str
    relations: tuple[RelationshipProperty[Any], ...]
    target: type[Any]
    field: str
    nullable: bool

    @property
    def path(self) -> tuple[str, ...]:
        return tuple(relation.key for relation in self.relations)


@dataclass(frozen=True)
class SortKey:
    """One ``order_by`` entry: a field reference or a raw SQLAlchemy expression."""

    ref: FieldRef | None
    descending: bool
    raw: Any = None


class JoinPlan:
    """The aliased outer joins a statement needs for its field paths."""

    __slots__ = ("aliases", "model")

    def __init__(self, model: type[Any]) -> None:
        self.model = model
        self.aliases: dict[tuple[str, ...], Any] = {}

    def column(self, ref: FieldRef) -> Any:
        """The SQL expression for ``ref``, registering the joins it needs."""
        entity: Any = self.model
        for depth in range(1, len(ref.relations) + 1):
            path = ref.path[:depth]
            if path not in self.aliases:
                self.aliases[path] = aliased(ref.relations[depth - 1].mapper.class_)
            entity = self.aliases[path]
        return sql_attribute(entity, ref.field)

    def apply(self, statement: Select[Any]) -> Select[Any]:
        for path, alias in self.aliases.items():
            parent = self.model if len(path) == 1 else self.aliases[path[:-1]]
            statement = statement.outerjoin(alias, getattr(parent, path[-1]).of_type(alias))
        return statement


def resolve_field_ref(model: type[Any], key: str, *, purpose: str) -> FieldRef:
    """Check ``key`` (``name``, ``author__name``) for sorting or selecting values (cached).

    Example:
        >>> resolve_field_ref(Post, "author__email", purpose="sort").path
        ('author',)
    """
    cache_key = (model, key, purpose)
    found = _resolved.get(cache_key)
    if found is None:  # only valid keys get here (a bad one raises)
        found = _resolved[cache_key] = _resolve_field_ref(model, key, purpose)
    return found


_resolved: dict[tuple[type[Any], str, str], FieldRef] = {}


def _resolve_field_ref(model: type[Any], key: str, purpose: str) -> FieldRef:
    parts = key.split(LOOKUP_SEPARATOR)
    current = model
    relations: list[RelationshipProperty[Any]] = []
    for part in parts[:-1]:
        info = model_info(current)
        if part not in info.relation_names:
            raise _unknown(current, key, part, purpose, relations=True)
        relation = inspect(current).relationships[part]
        if relation.uselist:
            to_one = [prop.key for prop in inspect(current).relationships if not prop.uselist]
            raise InvalidFieldError(
                f"Cannot {purpose} by {key!r}: {current.__name__}.{part} is a to-many "
                "relationship, which gives several values per row. Use a field or a to-one "
                "path, or filter through it instead.",
                model=current.__name__,
                field=part,
                valid=[*model_info(current).column_names, *to_one],
            )
        relations.append(relation)
        current = relation.mapper.class_
    name = parts[-1]
    info = model_info(current)
    if name not in info.column_names and name not in info.hybrid_property_names:
        raise _unknown(current, key, name, purpose, relations=False)
    nullable = bool(relations) or _is_nullable(current, name)
    return FieldRef(key, tuple(relations), current, name, nullable)


def resolve_sort_key(model: type[Any], key: Any) -> SortKey:
    """Check one ``order_by`` argument: ``"name"``, ``"-created_at"``, or an expression.

    Example:
        >>> resolve_sort_key(User, "-email").descending
        True
    """
    if not isinstance(key, str):
        return SortKey(None, False, key)
    descending = key.startswith("-")
    ref = resolve_field_ref(model, key.lstrip("-+"), purpose="sort")
    return SortKey(ref, descending)


def order_expressions(plan: JoinPlan, keys: tuple[SortKey, ...], *, nulls: bool) -> list[Any]:
    """SQL ORDER BY terms. With ``nulls``, NULL sorts last ascending and first
    descending on every database (as PostgreSQL does by default)."""
    terms: list[Any] = []
    for key in keys:
        if key.ref is None:
            terms.append(key.raw)
            continue
        column = plan.column(key.ref)
        if nulls and key.ref.nullable:
            is_null = column.is_(None)
            terms.append(is_null.desc() if key.descending else is_null.asc())
        terms.append(column.desc() if key.descending else column.asc())
    return terms


def loader_option(model: type[Any], path: str, strategy: str) -> tuple[Load, list[type[Any]], bool]:
    """Build the loader option for a dotted path (``"posts.comments"``).

    Returns the option, the classes it loads, and whether it joins a
    collection (whose rows then need de-duplication).

    Example:
        >>> option, targets, joins_collection = loader_option(User, "posts", "auto")
        >>> [target.__name__ for target in targets], joins_collection
        (['Post'], False)
    """
    if strategy not in LOAD_STRATEGIES:
        raise InvalidFieldError(
            f"Unknown loading strategy {strategy!r}; use one of {', '.join(LOAD_STRATEGIES)}.",
            field=strategy,
            valid=LOAD_STRATEGIES,
        )
    current = model
    option: Any = None
    targets: list[type[Any]] = []
    joins_collection = False
    for part in path.split("."):
        info = model_info(current)
        if part not in info.relation_names:
            raise InvalidFieldError.no_relationship(
                current.__name__, part, info.relation_names, context=f"Cannot load {path!r}: "
            )
        relation = inspect(current).relationships[part]
        chosen = strategy
        if chosen == "auto":
            chosen = "selectin" if relation.uselist else "joined"
        joins_collection = joins_collection or (chosen == "joined" and relation.uselist)
        attribute = getattr(current, part)
        loader = _LOADERS[chosen]
        option = (
            loader(attribute) if option is None else getattr(option, loader.__name__)(attribute)
        )
        current = relation.mapper.class_
        targets.append(current)
    return option, targets, joins_collection


def _is_nullable(model: type[Any], name: str) -> bool:
    column = inspect(model).columns.get(name)
    return True if column is None else bool(column.nullable)


def _unknown(
    model: type[Any], key: str, part: str, purpose: str, *, relations: bool
) -> InvalidFieldError:
    info = model_info(model)
    valid = [*info.column_names, *info.hybrid_property_names]
    if relations:
        valid += list(info.relation_names)
    return InvalidFieldError(
        f"Cannot {purpose} by {key!r}: {model.__name__} has no field {part!r}. "
        f"Valid: {', '.join(valid)}.",
        model=model.__name__,
        field=part,
        valid=valid,
    )
