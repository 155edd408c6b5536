"""Django-style lookups (``author__name__icontains="kim"``), and ``Q`` trees of them, compiled
to SQLAlchemy.

Each key is checked by ``_lookup_keys`` (path, field, transforms, operator);
here each value is checked against what the key takes, then the pair becomes
a condition. Paths through relationships become ``EXISTS`` subqueries
(``any()``/``has()``), never joins, so a parent row is never repeated. Lookups
given in one call that share a relationship path share one ``EXISTS``:
``posts__title="a", posts__body="b"`` asks for one post with both.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Boolean, and_, extract, false, func, not_, or_, true
from sqlalchemy.orm import RelationshipProperty
from sqlalchemy.sql import ClauseElement, ColumnElement, visitors

from ._column_types import accepted_types, fits
from ._json_lookups import json_condition
from ._lookup_keys import (
    OPERATORS,
    SEQUENCE_OPERATORS,
    TEXT_OPERATORS,
    FieldPath,
    resolve_field,
)
from ._model_info import model_info, sql_attribute
from ._values import check_integer_range
from .exceptions import InvalidValueError

__all__ = ["Q", "build_condition", "resolve_q"]


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
    if path.json_lookup and path.field is not None:
        return json_condition(
            sql_attribute(path.target, path.field),
            path.json_keys,
            path.operator,
            value,
            where=f"{path.target.__name__} lookup {path.key!r}",
            compare=OPERATORS.get(path.operator),
        )
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


# -- Q: lookups combined with |, & and ~ -----------------------------------------


class Q(ColumnElement[bool]):
    """A condition tree: keyword lookups and raw SQLAlchemy expressions, combinable.

    ``Q(a=1, b=2)`` means both; ``Q(...) | Q(...)`` either; ``~Q(...)`` not.
    Positional arguments are SQLAlchemy expressions (``User.age > 30``) and
    are ANDed with the lookups. A ``Q`` also goes inside SQLAlchemy's own
    operators (``(User.age > 30) | Q(name="Kim")``): it is a placeholder that
    the query resolves against its model. Negation keeps rows where the
    condition is NULL (``~Q(name="Kim")`` keeps users without a name).

    Example:
        >>> condition = Q(name__startswith="K") | Q(email__endswith="@example.com")
        >>> [user.email for user in run(User.filter(condition).order_by("email"))]
        []
        >>> print((~Q(User.id > 3, name=None)).resolve(User))
        NOT coalesce(doc_users.id > :id_1 AND doc_users.name IS NULL, false)
    """

    __visit_name__ = "sqlrecord_q"
    inherit_cache = False
    type = Boolean()

    def __init__(self, /, *expressions: ColumnElement[bool] | Q, **lookups: Any) -> None:
        self.expressions = expressions
        self.lookups = lookups
        self.children: tuple[Q, ...] = ()
        self.connector = "AND"
        self.negated = False

    @classmethod
    def _combine(cls, connector: str, left: Q, right: Any) -> Q:
        combined = cls()
        combined.connector = connector
        combined.children = (left, right if isinstance(right, Q) else Q(right))
        return combined

    def __or__(self, other: Any) -> Q:  # type: ignore[override]
        return self._combine("OR", self, other)

    def __and__(self, other: Any) -> Q:  # type: ignore[override]
        return self._combine("AND", self, other)

    def __ror__(self, other: Any) -> Q:
        return self._combine("OR", Q(other), self)

    def __rand__(self, other: Any) -> Q:
        return self._combine("AND", Q(other), self)

    def __invert__(self) -> Q:
        inverted = Q()
        inverted.children = (self,)
        inverted.negated = True
        return inverted

    def resolve(self, model: builtins.type[Any]) -> ColumnElement[bool]:
        """Compile to one SQL condition for ``model`` (checks every lookup key).

        Example:
            >>> print(Q(name="Kim").resolve(User))
            doc_users.name = :name_1
        """
        parts = [resolve_q(expression, model) for expression in self.expressions]
        if self.lookups:
            parts.append(build_condition(model, self.lookups))
        if self.children:
            resolved = [child.resolve(model) for child in self.children]
            joined = or_(*resolved) if self.connector == "OR" else and_(*resolved)
            parts.append(joined)
        condition = true() if not parts else parts[0] if len(parts) == 1 else and_(*parts)
        if not self.negated:
            return condition
        # NOT of an unknown (NULL) comparison is still unknown, which would
        # drop rows with NULLs from `exclude(name="Kim")`. Negate "is true".
        return not_(func.coalesce(condition, false()))

    def __hash__(self) -> int:
        return id(self)

    def __repr__(self) -> str:
        inner = [repr(expression) for expression in self.expressions]
        inner += [f"{key}={value!r}" for key, value in self.lookups.items()]
        if self.children:
            inner.append(f" {self.connector} ".join(repr(child) for child in self.children))
        text = f"Q({', '.join(inner)})"
        return f"~{text}" if self.negated else text


def resolve_q(condition: Any, model: type[Any]) -> ColumnElement[bool]:
    """Replace every ``Q`` in ``condition`` (a ``Q`` or a SQLAlchemy expression) with SQL.

    Example:
        >>> print(resolve_q((User.id > 3) | Q(name="Kim"), User))
        doc_users.id > :id_1 OR doc_users.name = :name_1
    """
    if isinstance(condition, Q):
        return condition.resolve(model)
    if not any(isinstance(element, Q) for element in visitors.iterate(condition)):
        return condition  # type: ignore[no-any-return]

    def replace(element: Any) -> Any:
        return element.resolve(model) if isinstance(element, Q) else None

    traverse: Any = visitors.replacement_traverse  # its overloads do not cover ColumnElement
    resolved: ColumnElement[bool] = traverse(condition, {}, replace)
    return resolved
