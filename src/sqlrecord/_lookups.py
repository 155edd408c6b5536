"""Django-style lookups (``author__name__icontains="kim"``), and ``Q`` trees of them, compiled
to SQLAlchemy.

Each key is checked by ``_lookup_keys`` (path, field, transforms, operator);
here each value is checked against what the key takes, then the pair becomes
a condition. Paths through relationships become ``EXISTS`` subqueries
(``any()``/``has()``), never joins, so a parent row is never repeated. Lookups
given in one call that share a relationship path share one ``EXISTS``:
``posts__title="a", posts__body="b"`` asks for one post with both.

A value may be an expression (``stock__lt=F("reserved")``, ``Item.reserved``),
read from the query's row: its kind is checked like a plain value's, and the
``EXISTS`` of a relationship path then reads an alias of its table, so the
expression cannot be taken for the related row (a self-referential path).
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Boolean, and_, extract, false, func, not_, or_, true
from sqlalchemy.orm import RelationshipProperty, aliased
from sqlalchemy.sql import ColumnElement, visitors

from ._column_types import accepted_types, fits
from ._expressions import Expression
from ._field_expressions import (
    compile_for_filter,
    describe,
    expression_kind,
    field_kind,
    holds_expression,
    refuse_mismatch,
)
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


#: Operators that compare a field with an expression (``F("reserved")``, ``Item.reserved``).
EXPRESSION_OPERATORS = frozenset({"eq", "ne", "gt", "ge", "gte", "lt", "le", "lte", "between"})


def _is_expression_pair(path: FieldPath, value: Any) -> bool:
    return (
        path.operator == "between"
        and isinstance(value, list | tuple)
        and any(holds_expression(item) for item in value)
    )


def _check_expression(path: FieldPath, where: str, value: Any) -> None:
    """An expression stands where a plain value would: same operators, same kind of value."""
    if path.field is None:
        raise InvalidValueError(
            f"{where} ends on a relationship; compare one of its fields with "
            f"{describe(value)} (e.g. '{path.key.split('__')[0]}__id')."
        )
    if path.operator not in EXPRESSION_OPERATORS:
        if not isinstance(value, Expression):
            return  # SQLAlchemy SQL: `id__in=select(...)` and the like, as written
        raise InvalidValueError(
            f"{where}: {describe(value)} compares with "
            f"{', '.join(sorted(EXPRESSION_OPERATORS))}, not {path.operator}."
        )
    expected = "number" if path.transforms else field_kind(path.target, path.field)
    found = expression_kind(path.model, value, relations=True)
    refuse_mismatch(f"{where}: {path.target.__name__}.{path.field}", expected, value, found)


def _check_lookup_value(path: FieldPath, value: Any) -> None:
    operator, target = path.operator, path.target
    where = f"{target.__name__} lookup {path.key!r}"
    if holds_expression(value):
        _check_expression(path, where, value)
        return
    if _is_expression_pair(path, value) and len(value) == 2:
        for item in value:
            if holds_expression(item):
                _check_expression(path, where, item)
            else:
                _check_scalar(path, where, item, allow_none=False)
        return
    if operator == "isnull":
        if not isinstance(value, bool):
            raise InvalidValueError(f"{where} takes True or False, got {type(value).__name__}.")
        return
    if operator in SEQUENCE_OPERATORS:
        if isinstance(value, str | bytes) or not isinstance(value, Iterable):
            raise InvalidValueError(f"{where} takes a list of values, got {type(value).__name__}.")
        for item in value:
            if isinstance(item, Expression):
                raise InvalidValueError(
                    f"{where} takes plain values; compare with {describe(item)} through "
                    f"{', '.join(sorted(EXPRESSION_OPERATORS))}."
                )
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
        if not -(2**31) <= value < 2**31:  # SQLite cannot even bind a 64-bit overflow
            raise InvalidValueError(f"{where} takes a 32-bit integer, got {value}.")
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


def _field_condition(path: FieldPath, value: Any, entity: Any) -> ColumnElement[bool]:
    """The condition for a checked lookup; ``entity`` is the class (or its alias) the
    path's field is read from."""
    if path.json_lookup and path.field is not None:  # checks its value itself
        return json_condition(
            sql_attribute(entity, path.field),
            path.json_keys,
            path.operator,
            value,
            where=f"{path.target.__name__} lookup {path.key!r}",
            compare=OPERATORS.get(path.operator),
        )
    if path.field is None:
        return _relation_condition(path, value, entity)
    expression: Any = sql_attribute(entity, path.field)
    for transform in path.transforms:
        expression = extract(transform, expression)
    if isinstance(value, Expression):
        value = compile_for_filter(path.model, value)
    elif _is_expression_pair(path, value):
        value = [compile_for_filter(path.model, item) for item in value]
    return OPERATORS[path.operator](expression, value)


def _relation_condition(path: FieldPath, value: Any, entity: Any) -> ColumnElement[bool]:
    relation = path.relations[-1]
    # An alias (a lookup path compared with an expression) is its own owner.
    owner = relation.parent.class_ if isinstance(entity, type) else entity
    attribute = getattr(owner, relation.key)
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
            entity,
        )
    equals: ColumnElement[bool] = _relation_equals(attribute, relation, value)
    return equals if operator == "eq" else not_(equals)


def _relation_equals(attribute: Any, relation: RelationshipProperty[Any], value: Any) -> Any:
    return attribute.contains(value) if relation.uselist else attribute == value


@dataclass
class _PathNode:
    """Checked lookups that share a relationship path, and the longer paths below it."""

    lookups: list[tuple[FieldPath, Any]] = field(default_factory=list)
    children: dict[str, tuple[RelationshipProperty[Any], _PathNode]] = field(default_factory=dict)

    def to_condition(self, entity: Any, *, alias: bool) -> ColumnElement[bool]:
        """The condition on ``entity`` (the model, a related class or its alias). With
        ``alias``, each relationship's ``EXISTS`` reads an alias of its target, so that
        an expression naming the query's model means the outer row even where the
        target is the same table (a self-referential or a looping path)."""
        parts = [_field_condition(path, value, entity) for path, value in self.lookups]
        for relation, node in self.children.values():
            target: Any = relation.mapper.class_
            if alias:
                target = aliased(target)
                attribute = getattr(entity, relation.key).of_type(target)
            else:
                attribute = getattr(relation.parent.class_, relation.key)
            inner = node.to_condition(target, alias=alias)
            parts.append(attribute.any(inner) if relation.uselist else attribute.has(inner))
        return parts[0] if len(parts) == 1 else and_(*parts)


def build_condition(model: type[Any], lookups: Mapping[str, Any]) -> ColumnElement[bool]:
    """Compile keyword lookups into one SQL condition (all must hold).

    Values may be expressions (``F("name")``, ``User.name``): they are read from
    ``model``'s row, also in lookups through relationships.

    Example:
        >>> print(build_condition(User, {"email": "kim@example.com", "name": None}))
        doc_users.email = :email_1 AND doc_users.name IS NULL
        >>> print(build_condition(User, {"posts__title__startswith": "Hi"}))  # doctest: +ELLIPSIS
        EXISTS (SELECT 1 FROM doc_posts, doc_users WHERE doc_users.id = doc_posts.author_id AND ...)
        >>> from sqlrecord import F
        >>> print(build_condition(User, {"posts__title": F("name")}))  # doctest: +ELLIPSIS
        EXISTS (SELECT 1 FROM doc_posts AS doc_posts_1, ... AND doc_posts_1.title = doc_users.name)
    """
    root = _PathNode()
    alias = False
    for key, value in lookups.items():
        path = resolve_field(model, key)
        if not path.json_lookup:
            _check_lookup_value(path, value)
        alias = alias or holds_expression(value) or _is_expression_pair(path, value)
        # A path that ends on a relationship is tested from its parent.
        hops = path.relations if path.field is not None else path.relations[:-1]
        node = root
        for relation in hops:
            node = node.children.setdefault(relation.key, (relation, _PathNode()))[1]
        node.lookups.append((path, value))
    if not root.lookups and not root.children:
        return true()
    return root.to_condition(model, alias=alias)


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
