"""Django-style lookups (``author__name__icontains="kim"``) compiled to SQLAlchemy.

A key is a path of relationship names, then a field (column, column property
or hybrid property), then optional transforms (``year``, ``month``, ``day``),
then an operator (``eq`` when none is given). Every part is checked against
the model before any SQL exists; names never reach SQL as text.

Paths through relationships become ``EXISTS`` subqueries (``any()``/``has()``),
never joins, so a parent row is never repeated. Lookups given in one call that
share a relationship path share one ``EXISTS``: ``posts__title="a",
posts__body="b"`` asks for one post with both.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, extract, false, inspect, not_, or_, true
from sqlalchemy.orm import RelationshipProperty
from sqlalchemy.sql import ClauseElement, ColumnElement

from ._text_match import TextMatch
from .exceptions import InvalidFieldError, InvalidValueError
from .introspection import accepted_types, fits, model_info, sql_attribute
from .object import check_integer_range

__all__ = [
    "LOOKUP_SEPARATOR",
    "OPERATORS",
    "TRANSFORMS",
    "FieldPath",
    "build_condition",
    "resolve_field",
]

#: Separates the parts of a lookup key or a sort key.
LOOKUP_SEPARATOR = "__"

_Compare = Callable[[Any, Any], ColumnElement[bool]]


def _eq(column: Any, value: Any) -> ColumnElement[bool]:
    return column.is_(None) if value is None else column == value  # type: ignore[no-any-return]


def _ne(column: Any, value: Any) -> ColumnElement[bool]:
    return column.is_not(None) if value is None else column != value  # type: ignore[no-any-return]


def _in(column: Any, value: Any) -> ColumnElement[bool]:
    return column.in_(list(value)) if value else false()


def _not_in(column: Any, value: Any) -> ColumnElement[bool]:
    return column.not_in(list(value)) if value else true()


def _isnull(column: Any, value: Any) -> ColumnElement[bool]:
    return column.is_(None) if value else column.is_not(None)  # type: ignore[no-any-return]


def _text(kind: str, *, case_sensitive: bool) -> _Compare:
    def compare(column: Any, value: Any) -> ColumnElement[bool]:
        return TextMatch(column, value, kind=kind, case_sensitive=case_sensitive)

    return compare


#: Operator suffix → comparison. ``like``/``ilike`` take raw patterns (``%``, ``_``);
#: the other text operators match their value literally.
OPERATORS: Mapping[str, _Compare] = {
    "eq": _eq,
    "ne": _ne,
    "gt": lambda column, value: column > value,
    "ge": lambda column, value: column >= value,
    "gte": lambda column, value: column >= value,
    "lt": lambda column, value: column < value,
    "le": lambda column, value: column <= value,
    "lte": lambda column, value: column <= value,
    "in": _in,
    "notin": _not_in,
    "between": lambda column, value: column.between(value[0], value[1]),
    "isnull": _isnull,
    "like": _text("like", case_sensitive=True),
    "ilike": _text("like", case_sensitive=False),
    "contains": _text("contains", case_sensitive=True),
    "icontains": _text("contains", case_sensitive=False),
    "startswith": _text("startswith", case_sensitive=True),
    "istartswith": _text("startswith", case_sensitive=False),
    "endswith": _text("endswith", case_sensitive=True),
    "iendswith": _text("endswith", case_sensitive=False),
}

#: Transforms of a date or datetime field, usable before an operator.
TRANSFORMS = ("year", "month", "day")

_TEXT_OPERATORS = frozenset(
    name for name in OPERATORS if name.endswith(("like", "contains", "startswith", "endswith"))
)
_SEQUENCE_OPERATORS = frozenset({"in", "notin"})
_RELATION_OPERATORS = frozenset({"eq", "ne", "isnull", "in", "notin"})


@dataclass(frozen=True)
class FieldPath:
    """A resolved lookup key: the relationships walked, the field, transforms, operator.

    Example:
        >>> path = resolve_field(User, "created_at__year__gte")
        >>> path.field, path.transforms, path.operator
        ('created_at', ('year',), 'gte')
    """

    model: type[Any]
    relations: tuple[RelationshipProperty[Any], ...]
    target: type[Any]
    field: str | None  # None when the path ends on a relationship
    transforms: tuple[str, ...]
    operator: str
    key: str

    @property
    def relation_keys(self) -> tuple[str, ...]:
        """Names of the relationships the key walks through.

        Example:
            >>> resolve_field(Post, "author__email").relation_keys
            ('author',)
        """
        return tuple(relation.key for relation in self.relations)


def _field_names(model: type[Any]) -> list[str]:
    info = model_info(model)
    return [*info.column_names, *info.hybrid_property_names]


def _unknown(
    model: type[Any], key: str, part: str, *, allow_relations: bool = True
) -> InvalidFieldError:
    info = model_info(model)
    choices = _field_names(model) + (list(info.relation_names) if allow_relations else [])
    return InvalidFieldError(
        f"{model.__name__} has no field or relationship {part!r} (in {key!r}). "
        f"Valid names: {', '.join(choices)}.",
        model=model.__name__,
        field=part,
        valid=choices,
    )


def resolve_field(model: type[Any], key: str, *, operators: bool = True) -> FieldPath:
    """Check a lookup key against ``model`` and say what it refers to (cached per key).

    Raises :class:`InvalidFieldError` naming the model, the bad part and the
    valid choices.

    Example:
        >>> path = resolve_field(Post, "author__name__icontains")
        >>> path.relation_keys, path.field, path.operator
        (('author',), 'name', 'icontains')
    """
    cache_key = (model, key, operators)
    found = _resolved.get(cache_key)
    if found is None:
        # Only valid keys are stored (a bad one raises first), so this stays
        # as small as the set of lookups the application really uses.
        found = _resolved[cache_key] = _resolve_field(model, key, operators)
    return found


_resolved: dict[tuple[type[Any], str, bool], FieldPath] = {}


def _resolve_field(model: type[Any], key: str, operators: bool) -> FieldPath:
    parts = key.split(LOOKUP_SEPARATOR)
    if any(not part for part in parts):
        valid = [*_field_names(model), *model_info(model).relation_names]
        raise InvalidFieldError(
            f"{key!r} is not a valid lookup for {model.__name__}: empty part between '__'. "
            f"Valid names: {', '.join(valid)}.",
            model=model.__name__,
            field=key,
            valid=valid,
        )
    current = model
    relations: list[RelationshipProperty[Any]] = []
    position = 0
    field_name: str | None = None
    while position < len(parts):
        part = parts[position]
        info = model_info(current)
        if part in info.relation_names:
            relation = inspect(current).relationships[part]
            relations.append(relation)
            current = relation.mapper.class_
            position += 1
            continue
        if part in info.column_names or part in info.hybrid_property_names:
            field_name = part
            position += 1
            break
        if relations and (part in OPERATORS or part in TRANSFORMS):
            break  # the path ends on a relationship: `author__isnull=True`
        raise _unknown(current, key, part)
    rest = parts[position:]
    transforms: list[str] = []
    while rest and rest[0] in TRANSFORMS:
        transforms.append(rest.pop(0))
    if transforms and field_name is not None and not _is_temporal(current, field_name):
        raise InvalidFieldError(
            f"{key!r}: {', '.join(TRANSFORMS)} apply to date and datetime fields; "
            f"{current.__name__}.{field_name} is not one.",
            model=current.__name__,
            field=transforms[0],
            valid=[name for name in _field_names(current) if _is_temporal(current, name)],
        )
    if not operators:
        if rest or transforms:
            raise _unknown(current, key, (rest or transforms)[0], allow_relations=False)
        operator = "eq"
    else:
        operator = rest.pop(0) if rest else "eq"
        if operator not in OPERATORS or rest:
            bad = operator if operator not in OPERATORS else rest[0]
            valid = [*OPERATORS, *TRANSFORMS]
            raise InvalidFieldError(
                f"Unknown lookup operator {bad!r} in {key!r} for {current.__name__}. "
                f"Valid operators: {', '.join(valid)}.",
                model=current.__name__,
                field=bad,
                valid=valid,
            )
    if (
        operator in _TEXT_OPERATORS
        and field_name is not None
        and (transforms or not _is_text(current, field_name))
    ):
        raise InvalidFieldError(
            f"{key!r}: {operator} applies to text fields; {current.__name__}.{field_name}"
            f"{'__' + '__'.join(transforms) if transforms else ''} is not text.",
            model=current.__name__,
            field=operator,
            valid=[name for name in _field_names(current) if _is_text(current, name)],
        )
    if field_name is None and (transforms or operator not in _RELATION_OPERATORS):
        raise InvalidFieldError(
            f"{key!r} ends on a relationship of {model.__name__}; only "
            f"{', '.join(sorted(_RELATION_OPERATORS))} apply to a relationship. "
            f"Name a field after it, e.g. '{key.split(LOOKUP_SEPARATOR)[0]}__id'.",
            model=model.__name__,
            field=key,
            valid=sorted(_RELATION_OPERATORS),
        )
    return FieldPath(
        model=model,
        relations=tuple(relations),
        target=current,
        field=field_name,
        transforms=tuple(transforms),
        operator=operator,
        key=key,
    )


def _is_text(model: type[Any], name: str) -> bool:
    accepted = model_info(model).accepted_types.get(name)
    # Plain strings only (PostgreSQL has no LIKE on enums or UUIDs); unknown
    # types (hybrids, custom types) get the benefit of the doubt.
    return accepted is None or accepted == (str,)


def _is_temporal(model: type[Any], name: str) -> bool:
    accepted = model_info(model).accepted_types.get(name)
    # Unknown types (hybrids, custom types) get the benefit of the doubt.
    return accepted is None or any(issubclass(kind, dt.date) for kind in accepted)


def _check_lookup_value(path: FieldPath, value: Any) -> None:
    operator, target = path.operator, path.target
    where = f"{target.__name__} lookup {path.key!r}"
    if isinstance(value, ClauseElement):
        return
    if operator == "isnull":
        if not isinstance(value, bool):
            raise InvalidValueError(f"{where} takes True or False, got {type(value).__name__}.")
        return
    if operator in _SEQUENCE_OPERATORS:
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
    if operator in _TEXT_OPERATORS:
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
    if operator in _SEQUENCE_OPERATORS:
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
