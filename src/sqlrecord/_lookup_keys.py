"""Lookup keys (``author__name__icontains``): the operator table, and each key checked.

A key is a path of relationship names (walked by ``_paths``), then a field
(column, column property or hybrid property), then optional transforms
(``year``, ``month``, ``day``), then an operator (``eq`` when none is given).
After a JSON column the parts are object keys instead (``data__ui__theme``),
and the last part is an operator when it names one (``data__count__gte``).
Every part is checked against the model here, before any SQL exists, so names
never reach SQL as text; ``lookups`` turns checked keys into conditions.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import false, true
from sqlalchemy.orm import RelationshipProperty
from sqlalchemy.sql import ColumnElement

from ._json_keys import check_json_keys, is_json_field
from ._model_info import model_info
from ._paths import LOOKUP_SEPARATOR, field_names, is_field, walk_relations
from ._text_match import TextMatch
from .exceptions import InvalidFieldError

__all__ = [
    "JSON_OPERATORS",
    "OPERATORS",
    "RELATION_OPERATORS",
    "SEQUENCE_OPERATORS",
    "TEXT_OPERATORS",
    "TRANSFORMS",
    "FieldPath",
    "resolve_field",
]

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

TEXT_OPERATORS = frozenset(
    name for name in OPERATORS if name.endswith(("like", "contains", "startswith", "endswith"))
)
SEQUENCE_OPERATORS = frozenset({"in", "notin"})
#: Operators of a JSON field only: ``has_key``, and ``contains`` (a sub-document there).
JSON_OPERATORS = frozenset({"has_key", "contains"})
RELATION_OPERATORS = frozenset({"eq", "ne", "isnull", "in", "notin"})


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
    json_keys: tuple[str, ...] = ()  # object keys inside a JSON field
    json_lookup: bool = False  # compiled by _json_lookups (keys, has_key, contains)

    @property
    def relation_keys(self) -> tuple[str, ...]:
        """Names of the relationships the key walks through.

        Example:
            >>> resolve_field(Post, "author__email").relation_keys
            ('author',)
        """
        return tuple(relation.key for relation in self.relations)


def _unknown(
    model: type[Any], key: str, part: str, *, allow_relations: bool = True
) -> InvalidFieldError:
    info = model_info(model)
    choices = field_names(model) + (list(info.relation_names) if allow_relations else [])
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
        valid = [*field_names(model), *model_info(model).relation_names]
        raise InvalidFieldError(
            f"{key!r} is not a valid lookup for {model.__name__}: empty part between '__'. "
            f"Valid names: {', '.join(valid)}.",
            model=model.__name__,
            field=key,
            valid=valid,
        )
    walk = walk_relations(model, parts)
    current, relations, rest = walk.target, walk.relations, list(walk.rest)
    field_name: str | None = None
    if rest and is_field(current, rest[0]):
        field_name = rest.pop(0)
        if operators and is_json_field(current, field_name):
            found = _json_path(model, relations, current, field_name, rest, key)
            if found is not None:
                return found
    elif rest and not (relations and (rest[0] in OPERATORS or rest[0] in TRANSFORMS)):
        # Not a path that ends on a relationship either: `author__isnull=True`.
        raise _unknown(current, key, rest[0])
    transforms: list[str] = []
    while rest and rest[0] in TRANSFORMS:
        transforms.append(rest.pop(0))
    if transforms and field_name is not None and not _is_temporal(current, field_name):
        raise InvalidFieldError(
            f"{key!r}: {', '.join(TRANSFORMS)} apply to date and datetime fields; "
            f"{current.__name__}.{field_name} is not one.",
            model=current.__name__,
            field=transforms[0],
            valid=[name for name in field_names(current) if _is_temporal(current, name)],
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
        operator in TEXT_OPERATORS
        and field_name is not None
        and (transforms or not _is_text(current, field_name))
    ):
        raise InvalidFieldError(
            f"{key!r}: {operator} applies to text fields; {current.__name__}.{field_name}"
            f"{'__' + '__'.join(transforms) if transforms else ''} is not text.",
            model=current.__name__,
            field=operator,
            valid=[name for name in field_names(current) if _is_text(current, name)],
        )
    if field_name is None and (transforms or operator not in RELATION_OPERATORS):
        raise InvalidFieldError(
            f"{key!r} ends on a relationship of {model.__name__}; only "
            f"{', '.join(sorted(RELATION_OPERATORS))} apply to a relationship. "
            f"Name a field after it, e.g. '{key.split(LOOKUP_SEPARATOR)[0]}__id'.",
            model=model.__name__,
            field=key,
            valid=sorted(RELATION_OPERATORS),
        )
    return FieldPath(
        model=model,
        relations=relations,
        target=current,
        field=field_name,
        transforms=tuple(transforms),
        operator=operator,
        key=key,
    )


def _json_path(
    model: type[Any],
    relations: tuple[RelationshipProperty[Any], ...],
    target: type[Any],
    field_name: str,
    rest: list[str],
    key: str,
) -> FieldPath | None:
    """The lookup on a JSON field: ``rest`` is object keys, then maybe an operator.
    ``None`` for a plain lookup on the whole column (``data__isnull=True``)."""
    named = bool(rest) and (rest[-1] in OPERATORS or rest[-1] in JSON_OPERATORS)
    operator = rest[-1] if named else "eq"
    keys = tuple(rest[:-1] if named else rest)
    if not keys and operator not in JSON_OPERATORS:
        return None
    check_json_keys(target, key, keys)
    return FieldPath(
        model=model,
        relations=relations,
        target=target,
        field=field_name,
        transforms=(),
        operator=operator,
        key=key,
        json_keys=keys,
        json_lookup=True,
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
