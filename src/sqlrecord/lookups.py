"""Django-style lookups (``author__name__icontains="kim"``) compiled to SQLAlchemy.

Each key is checked by ``_lookup_keys`` (path, field, transforms, operator);
here each value is checked against what the key takes, then the pair becomes
a condition. Paths through relationships become ``EXISTS`` subqueries
(``any()``/``has()``), never joins, so a parent row is never repeated. Lookups
given in one call that share a relationship path share one ``EXISTS``:
``posts__title="a", posts__body="b"`` asks for one post with both.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, extract, not_, or_, true
from sqlalchemy.orm import RelationshipProperty
from sqlalchemy.sql import ClauseElement, ColumnElement

from ._column_types import accepted_types, fits
from ._lookup_keys import (
    OPERATORS,
    SEQUENCE_OPERATORS,
    TEXT_OPERATORS,
    TRANSFORMS,
    FieldPath,
    resolve_field,
)
from ._model_info import model_info, sql_attribute
from ._paths import LOOKUP_SEPARATOR
from ._values import check_integer_range
from .exceptions import InvalidValueError

__all__ = [
    "LOOKUP_SEPARATOR",
    "OPERATORS",
    "TRANSFORMS",
    "FieldPath",
    "build_condition",
    "resolve_field",
]


def _check_lookup_value(path: FieldPath, value: Any) -> None:
    operator, target = path.operator, path.target
    where = f"{target.__name__} lookup {path.key!r}"
    if isinstance(value, ClauseElement):
        return
    if operator == "isnull":
        if not isinstance(value, bool):
            raise InvalidValueError(f"{where} takes True or False, got {type(value).__name__}.")
        return
    if operator in SEQUENCE_OPERATORS:
        if isinstance(value, str | bytes) or not isinstance(value, Iterable):
            raise InvalidValueError(f"{where} takes a list of values, got {type(value).__name__}.")
        for item in value:
            _check_scalar(path, where, item, allow_none=False)
        return
    if operator == "between":
        if isinstance(value, str | bytes) or not isinstance(value, list | tuple) or len(value) != 2:
            raise InvalidValueError(f"{where} takes a pair (low, high), got {value!r:.60}.")
        for item in value:
            _check_scalar(path, where, item, allow_none=False)
        return
    if operator in TEXT_OPERATORS:
        if not fits(value, (str,)):
            raise InvalidValueError(
                f"{where} takes a string that every database can store (no NUL, valid "
                f"Unicode), got {value!r:.40}."
            )
        return
    if isinstance(value, bool) and operator not in ("eq", "ne"):
        raise InvalidValueError(f"{where}: True/False compare with eq or ne only, not {operator}.")
    _check_scalar(path, where, value, allow_none=operator in ("eq", "ne"))


def _check_scalar(path: FieldPath, where: str, value: Any, *, allow_none: bool) -> None:
    if value is None:
        if not allow_none:
            raise InvalidValueError(f"{where} cannot compare with None; use __isnull=True.")
        return
    if path.field is None:  # a relationship compared with an object
        if not isinstance(value, path.target):
            raise InvalidValueError(
                f"{where} takes {path.target.__name__} objects, got {type(value).__name__}."
            )
        return
    if path.transforms:
        if isinstance(value, bool) or not isinstance(value, int):
            raise InvalidValueError(f"{where} takes an integer, got {type(value).__name__}.")
        return
    info = model_info(path.target)
    accepted = info.accepted_types.get(path.field)
    if accepted is None and path.field in info.hybrid_property_names:
        # A hybrid's SQL expression has a type too (e.g. coalesce of two strings).
        expression_type = getattr(sql_attribute(path.target, path.field), "type", None)
        accepted = accepted_types(expression_type) if expression_type is not None else None
    check_integer_range(path.target, info, path.field, value)
    if accepted is not None and not fits(value, accepted):
        expected = " or ".join(kind.__name__ for kind in accepted)
        raise InvalidValueError(f"{where} takes {expected}, got {type(value).__name__}.")


def _field_condition(path: FieldPath, value: Any) -> ColumnElement[bool]:
    _check_lookup_value(path, value)
    if path.field is None:
        return _relation_condition(path, value)
    expression: Any = sql_attribute(path.target, path.field)
    for transform in path.transforms:
        expression = extract(transform, expression)
    return OPERATORS[path.operator](expression, value)


def _relation_condition(path: FieldPath, value: Any) -> ColumnElement[bool]:
    relation = path.relations[-1]
    attribute = getattr(relation.parent.class_, relation.key)
    operator = path.operator
    if operator == "isnull":
        exists = attribute.any() if relation.uselist else attribute.has()
        return not_(exists) if value else exists  # type: ignore[no-any-return]
    if operator in SEQUENCE_OPERATORS:
        matches = [_relation_equals(attribute, relation, item) for item in value]
        combined = matches[0].self_group() if len(matches) == 1 else or_(*matches)
        return combined if operator == "in" else not_(combined)
    if value is None:
        return _relation_condition(
            FieldPath(path.model, path.relations, path.target, None, (), "isnull", path.key),
            operator == "eq",
        )
    equals: ColumnElement[bool] = _relation_equals(attribute, relation, value)
    return equals if operator == "eq" else not_(equals)


def _relation_equals(attribute: Any, relation: RelationshipProperty[Any], value: Any) -> Any:
    return attribute.contains(value) if relation.uselist else attribute == value


@dataclass
class _PathNode:
    """Conditions that share a relationship path, and the longer paths below it."""

    conditions: list[ColumnElement[bool]] = field(default_factory=list)
    children: dict[str, tuple[RelationshipProperty[Any], _PathNode]] = field(default_factory=dict)

    def to_condition(self) -> ColumnElement[bool]:
        parts = list(self.conditions)
        for relation, node in self.children.values():
            attribute = getattr(relation.parent.class_, relation.key)
            inner = node.to_condition()
            parts.append(attribute.any(inner) if relation.uselist else attribute.has(inner))
        return parts[0] if len(parts) == 1 else and_(*parts)


def build_condition(model: type[Any], lookups: Mapping[str, Any]) -> ColumnElement[bool]:
    """Compile keyword lookups into one SQL condition (all must hold).

    Example:
        >>> print(build_condition(User, {"email": "kim@example.com", "name": None}))
        doc_users.email = :email_1 AND doc_users.name IS NULL
        >>> print(build_condition(User, {"posts__title__startswith": "Hi"}))  # doctest: +ELLIPSIS
        EXISTS (SELECT 1 FROM doc_posts, doc_users WHERE doc_users.id = doc_posts.author_id AND ...)
    """
    root = _PathNode()
    for key, value in lookups.items():
        path = resolve_field(model, key)
        # A path that ends on a relationship is tested from its parent.
        hops = path.relations if path.field is not None else path.relations[:-1]
        node = root
        for relation in hops:
            node = node.children.setdefault(relation.key, (relation, _PathNode()))[1]
        node.conditions.append(_field_condition(path, value))
    if not root.conditions and not root.children:
        return true()
    return root.to_condition()
