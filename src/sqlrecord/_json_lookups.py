"""Lookups into a JSON column (``data__ui__theme="dark"``): values checked, then conditions.

Keys after the JSON field name are object keys (resolved in ``_lookup_keys``);
the SQL of each database comes from ``_json_paths``. The rules, the same on
every database:

* A missing key (or a path through something that is not an object) is
  ``isnull=True``; a key holding JSON ``null`` matches ``=None`` and is *not*
  ``isnull``.
* ``=`` compares with the JSON type: ``"1"`` is not ``1``, ``True`` is not ``1``,
  ``1`` is ``1.0``. Strings compare by code point, case-sensitively.
* ``ne``/``notin`` match rows where the key is present and holds another value.
* ``gt``/``lt``... take a number (matching numbers) or a string (matching strings).
* ``has_key`` takes a key; ``contains`` a dict or list (a sub-document, as
  PostgreSQL's ``@>``: objects by key, arrays of scalars by membership).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from sqlalchemy import and_, false, func, not_, or_, types
from sqlalchemy.sql import ClauseElement, ColumnElement

from ._column_types import fits, storable_text
from ._json_paths import JsonArrayHas, JsonContains, JsonPart
from .exceptions import InvalidValueError

__all__ = ["JSON_ORDERING", "json_condition"]

#: Operators that compare a JSON value by order (numbers or strings).
JSON_ORDERING = frozenset({"gt", "ge", "gte", "lt", "le", "lte", "between"})

# SQLite binds 64-bit integers; a larger one is refused before SQL everywhere.
_INT64 = (-(2**63), 2**63 - 1)


Compare = Callable[[Any, Any], ColumnElement[bool]]


def _scalar_kind(where: str, value: Any, *, allow_none: bool = True) -> str:
    """``string``, ``number``, ``true``, ``false`` or ``null``; else InvalidValueError."""
    if value is None and allow_none:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        if not _INT64[0] <= value <= _INT64[1]:
            raise InvalidValueError(f"{where}: {value} is outside the 64-bit integer range.")
        return "number"
    if isinstance(value, float) and fits(value, (float,)):
        return "number"
    if isinstance(value, str) and storable_text(value):
        return "string"
    raise InvalidValueError(
        f"{where} takes a string, a number, True, False"
        f"{' or None' if allow_none else ''}, got {value!r:.60}. Use __contains for a dict "
        "or list."
    )


def _check_document(where: str, value: Any, *, in_array: bool = False) -> None:
    if isinstance(value, dict):
        if in_array:
            raise InvalidValueError(
                f"{where}: __contains takes lists of strings, numbers, booleans or None; "
                "objects inside a list are not supported."
            )
        for key, item in value.items():
            if not isinstance(key, str) or not storable_text(key):
                raise InvalidValueError(f"{where}: object keys must be strings, got {key!r:.40}.")
            _check_document(where, item)
    elif isinstance(value, list | tuple):
        if in_array:
            raise InvalidValueError(f"{where}: __contains does not take a list inside a list.")
        for item in value:
            _check_document(where, item, in_array=True)
    else:
        _scalar_kind(where, value)


def json_condition(
    document: Any,
    keys: Sequence[str],
    operator: str,
    value: Any,
    *,
    where: str,
    compare: Compare | None,
) -> ColumnElement[bool]:
    """The condition that lookup ``operator`` with ``value`` sets on the value at ``keys``
    inside ``document``. ``compare`` is the lookup table's function for ``operator``
    (ordering and text operators apply it); ``where`` names the lookup in errors.

    Example:
        >>> from sqlalchemy import JSON, column
        >>> data = column("data", JSON)
        >>> json_condition(data, ["a"], "has_key", 3, where="a", compare=None)
        Traceback (most recent call last):
        ...
        sqlrecord.exceptions.InvalidValueError: a takes a key (a string), got 3.
    """
    if hasattr(value, "__clause_element__"):  # Doc.other_column
        value = value.__clause_element__()
    if operator == "isnull":
        if not isinstance(value, bool):
            raise InvalidValueError(f"{where} takes True or False, got {type(value).__name__}.")
        kind = JsonPart(document, keys, "kind")
        return kind.is_(None) if value else kind.is_not(None)
    if operator == "has_key":
        if not isinstance(value, str) or not storable_text(value):
            raise InvalidValueError(f"{where} takes a key (a string), got {value!r:.60}.")
        return JsonPart(document, (*keys, value), "kind").is_not(None)
    if operator == "contains":
        if not isinstance(value, dict | list | tuple):
            raise InvalidValueError(
                f"{where} takes a dict or a list (a sub-document), got {type(value).__name__}. "
                "For a substring of a string value use __like or __icontains."
            )
        _check_document(where, value)
        candidate = list(value) if isinstance(value, tuple) else value
        portable = _contained(document, keys, candidate)
        return JsonContains(JsonPart(document, keys, "json"), candidate, portable)
    if operator in ("in", "notin"):
        if isinstance(value, str | bytes | dict) or not isinstance(value, Iterable):
            raise InvalidValueError(f"{where} takes a list of values, got {type(value).__name__}.")
        found = _one_of(document, keys, where, list(value))
        if operator == "in":
            return found
        return and_(_present(document, keys), not_(func.coalesce(found, false())))
    if operator in JSON_ORDERING and compare is not None:
        return _ordering(document, keys, where, operator, value, compare)
    if operator in ("eq", "ne"):
        equals = _equals(document, keys, where, value)
        if operator == "eq":
            return equals
        return and_(_present(document, keys), not_(func.coalesce(equals, false())))
    if compare is None:
        raise InvalidValueError(f"{where}: {operator!r} does not apply inside a JSON field.")
    # A text operator (icontains, startswith, like ...) on a string value.
    if not isinstance(value, str) or not storable_text(value):
        raise InvalidValueError(f"{where} takes a string, got {value!r:.60}.")
    return compare(JsonPart(document, keys, "text"), value)


def _present(document: Any, keys: Sequence[str]) -> ColumnElement[bool]:
    return JsonPart(document, keys, "kind").is_not(None)


def _form_for(kind: str) -> str:
    return "binary_text" if kind == "string" else "number"


def _equals(document: Any, keys: Sequence[str], where: str, value: Any) -> ColumnElement[bool]:
    if isinstance(value, ClauseElement):
        form = _expression_form(where, value)
    else:
        kind = _scalar_kind(where, value)
        form = _form_for(kind) if kind in ("string", "number") else "kind"
        value = value if kind in ("string", "number") else kind
    equals: ColumnElement[bool] = JsonPart(document, keys, form) == value
    return equals


def _one_of(
    document: Any, keys: Sequence[str], where: str, values: list[Any]
) -> ColumnElement[bool]:
    grouped: dict[str, list[Any]] = {}
    for item in values:
        grouped.setdefault(_scalar_kind(where, item, allow_none=False), []).append(item)
    parts: list[ColumnElement[bool]] = []
    for kind in ("string", "number"):
        if kind in grouped:
            parts.append(JsonPart(document, keys, _form_for(kind)).in_(grouped[kind]))
    flags = [kind for kind in ("true", "false") if kind in grouped]
    if flags:
        parts.append(JsonPart(document, keys, "kind").in_(flags))
    if not parts:
        return false()
    return parts[0] if len(parts) == 1 else or_(*parts)


def _ordering(
    document: Any, keys: Sequence[str], where: str, operator: str, value: Any, compare: Compare
) -> ColumnElement[bool]:
    bounds = value if operator == "between" else [value]
    if operator == "between" and (
        isinstance(value, str | bytes) or not isinstance(value, list | tuple) or len(value) != 2
    ):
        raise InvalidValueError(f"{where} takes a pair (low, high), got {value!r:.60}.")
    if all(isinstance(bound, ClauseElement) for bound in bounds):
        form = _expression_form(where, bounds[0])
    else:
        kinds = {_scalar_kind(where, bound, allow_none=False) for bound in bounds}
        if not kinds <= {"string", "number"} or len(kinds) != 1:
            raise InvalidValueError(
                f"{where} compares numbers with numbers or strings with strings, got {value!r:.60}."
            )
        form = _form_for(kinds.pop())
    part = JsonPart(document, keys, form)
    if operator == "between":
        return part.between(value[0], value[1])
    return compare(part, value)


def _expression_form(where: str, expression: Any) -> str:
    expression_type = getattr(expression, "type", None)
    if isinstance(expression_type, types.String):
        return "binary_text"
    if isinstance(expression_type, types.Integer | types.Numeric) and not isinstance(
        expression_type, types.Boolean
    ):
        return "number"
    raise InvalidValueError(
        f"{where}: a SQL expression compared with a JSON value must be a string or a "
        f"number expression, got {type(expression_type).__name__}."
    )


def _contained(document: Any, keys: Sequence[str], candidate: Any) -> ColumnElement[bool]:
    """``candidate`` is contained in the value at ``keys``, spelled out key by key (what
    PostgreSQL's ``@>`` tests, for the documents ``contains`` takes)."""
    if isinstance(candidate, dict):
        parts = [JsonPart(document, keys, "kind") == "object"]
        parts += [_contained(document, (*keys, key), item) for key, item in candidate.items()]
        return and_(*parts)
    if isinstance(candidate, list):
        parts = [JsonPart(document, keys, "kind") == "array"]
        node = JsonPart(document, keys, "json")
        seen: list[Any] = []
        for item in candidate:
            if not any(type(item) is type(other) and item == other for other in seen):
                seen.append(item)
                kind = _scalar_kind("contains", item)
                parts.append(JsonArrayHas(node, item if kind in ("string", "number") else 0, kind))
        return and_(*parts)
    return _equals(document, keys, "contains", candidate)
