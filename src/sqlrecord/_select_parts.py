"""The parts of a SELECT that come from checked paths: joins, sort terms, loader options.

The paths themselves are checked in ``_paths`` before any SQL exists; here
field references through many-to-one relationships (``author__name``) become
outer joins to aliased tables, one alias per path, so the same table can be
reached twice, and loader paths become SQLAlchemy loader options.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select
from sqlalchemy.orm import (
    Load,
    aliased,
    immediateload,
    joinedload,
    selectinload,
    subqueryload,
)

from ._json_paths import JsonPart
from ._model_info import sql_attribute
from ._paths import FieldRef, resolve_field_ref, resolve_load_path
from .exceptions import InvalidFieldError

__all__ = [
    "LOAD_STRATEGIES",
    "JoinPlan",
    "SortKey",
    "loader_option",
    "order_expressions",
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

    def column(self, ref: FieldRef, *, json_form: str = "json") -> Any:
        """The SQL expression for ``ref``, registering the joins it needs (a value
        inside a JSON field in the form ``json_form``, see ``_json_paths``)."""
        entity: Any = self.model
        for depth in range(1, len(ref.relations) + 1):
            path = ref.path[:depth]
            if path not in self.aliases:
                self.aliases[path] = aliased(ref.relations[depth - 1].mapper.class_)
            entity = self.aliases[path]
        column = sql_attribute(entity, ref.field)
        return JsonPart(column, ref.json_keys, json_form) if ref.json_keys else column

    def apply(self, statement: Select[Any]) -> Select[Any]:
        for path, alias in self.aliases.items():
            parent = self.model if len(path) == 1 else self.aliases[path[:-1]]
            statement = statement.outerjoin(alias, getattr(parent, path[-1]).of_type(alias))
        return statement


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
    descending on every database (as PostgreSQL does by default).

    A key inside a JSON field sorts numbers first (by value), then strings (by code
    point), then every other value and missing keys: two terms, the same everywhere.
    """
    terms: list[Any] = []
    for key in keys:
        if key.ref is None:
            terms.append(key.raw)
            continue
        forms = ("number", "binary_text") if key.ref.json_keys else ("json",)
        for form in forms:
            column = plan.column(key.ref, json_form=form)
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
    walk = resolve_load_path(model, path)
    option: Any = None
    targets: list[type[Any]] = []
    joins_collection = False
    for owner, relation in zip(walk.owners, walk.relations, strict=True):
        chosen = strategy
        if chosen == "auto":
            chosen = "selectin" if relation.uselist else "joined"
        joins_collection = joins_collection or (chosen == "joined" and bool(relation.uselist))
        attribute = getattr(owner, relation.key)
        loader = _LOADERS[chosen]
        option = (
            loader(attribute) if option is None else getattr(option, loader.__name__)(attribute)
        )
        targets.append(relation.mapper.class_)
    return option, targets, joins_collection
