"""Lookups, ``Q`` trees and sort keys on named expressions: annotations and aggregates.

``filter_by(n__gt=2)`` where ``n`` is an annotation, ``having(total__gte=100)``
where ``total`` is an aggregate: the name picks an expression the query made
itself (never SQL text), the operator comes from the one table in
``_lookup_keys``, and the value is checked against the expression's type
before any SQL (``Count`` takes ``int``), so a request's
``filter_by(**query)`` cannot reach SQL with anything but bound values.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from sqlalchemy import and_, false, func, not_, or_, true
from sqlalchemy.sql import ClauseElement, ColumnElement, visitors
from sqlalchemy.types import NullType

from ._column_types import accepted_types, fits
from ._lookup_keys import OPERATORS, SEQUENCE_OPERATORS, TEXT_OPERATORS
from ._lookups import Q
from ._paths import LOOKUP_SEPARATOR
from ._select_parts import SortKey
from .exceptions import InvalidFieldError, InvalidValueError

__all__ = ["named_condition", "named_sort_keys", "resolve_named", "split_named"]

Named = Mapping[str, ColumnElement[Any]]
#: Conditions for the lookups that name no expression (a model's own lookups, or an error).
Plain = Callable[[dict[str, Any]], ColumnElement[bool]]


def split_named(lookups: Mapping[str, Any], named: Iterable[str]) -> tuple[dict[str, Any], ...]:
    """The lookups whose key starts with a name (``n__gt``, ``author__name``), and the others.

    Example:
        >>> split_named({"n__gt": 1, "name": "Kim"}, {"n"})
        ({'n__gt': 1}, {'name': 'Kim'})
    """
    names = set(named)
    mine = {key: value for key, value in lookups.items() if _match(key, names) is not None}
    return mine, {key: value for key, value in lookups.items() if key not in mine}


def _match(key: str, names: Iterable[str]) -> tuple[str, str] | None:
    """The longest name ``key`` starts with, and the operator after it (``""``: none)."""
    parts = key.split(LOOKUP_SEPARATOR)
    for end in range(len(parts), 0, -1):
        name = LOOKUP_SEPARATOR.join(parts[:end])
        if name in names:
            return name, LOOKUP_SEPARATOR.join(parts[end:])
    return None


def named_condition(
    named: Named, key: str, value: Any, *, compile_value: Callable[[Any], Any]
) -> ColumnElement[bool]:
    """The condition of one lookup on a named expression (``n__gt=2``), value checked.

    Example:
        >>> print(named_condition({"n": User.id}, "n__in", [1, 2], compile_value=lambda v: v))
        doc_users.id IN (__[POSTCOMPILE_id_1])
    """
    found = _match(key, named)
    if found is None:
        raise InvalidFieldError(f"{key!r} names none of {', '.join(named)}.", valid=list(named))
    name, operator = found[0], found[1] or "eq"
    expression = named[name]
    if operator not in OPERATORS:
        valid = list(OPERATORS)
        raise InvalidFieldError(
            f"Unknown lookup operator {operator!r} in {key!r} on {name!r}. "
            f"Valid operators: {', '.join(valid)}.",
            field=operator,
            valid=valid,
        )
    kinds = None if isinstance(expression.type, NullType) else accepted_types(expression.type)
    if operator in TEXT_OPERATORS and kinds is not None and kinds != (str,):
        raise InvalidFieldError(
            f"{key!r}: {operator} applies to text; {name!r} is not text.",
            field=operator,
            valid=[op for op in OPERATORS if op not in TEXT_OPERATORS],
        )
    value = compile_value(value)
    _check(key, operator, kinds, value)
    return OPERATORS[operator](expression, value)


_BIG = (-(2**63), 2**63 - 1)


def _check(key: str, operator: str, kinds: tuple[type, ...] | None, value: Any) -> None:
    where = f"Lookup {key!r}"
    if isinstance(value, ClauseElement) or hasattr(value, "__clause_element__"):
        return
    if operator == "isnull":
        if not isinstance(value, bool):
            raise InvalidValueError(f"{where} takes True or False, got {type(value).__name__}.")
        return
    if operator in SEQUENCE_OPERATORS or operator == "between":
        pair = operator == "between"
        if isinstance(value, str | bytes) or not isinstance(
            value, list | tuple if pair else Iterable
        ):
            raise InvalidValueError(f"{where} takes a list of values, got {value!r:.60}.")
        items = list(value)
        if pair and len(items) != 2:
            raise InvalidValueError(f"{where} takes a pair (low, high), got {value!r:.60}.")
        for item in items:
            _check_scalar(where, kinds, item, allow_none=False)
        return
    if operator in TEXT_OPERATORS:
        kinds = (str,)
    elif isinstance(value, bool) and operator not in ("eq", "ne"):
        raise InvalidValueError(f"{where}: True/False compare with eq or ne only, not {operator}.")
    _check_scalar(where, kinds, value, allow_none=operator in ("eq", "ne"))


def _check_scalar(
    where: str, kinds: tuple[type, ...] | None, value: Any, *, allow_none: bool
) -> None:
    if value is None:
        if not allow_none:
            raise InvalidValueError(f"{where} cannot compare with None; use __isnull=True.")
        return
    if kinds is not None and not fits(value, kinds):
        expected = " or ".join(kind.__name__ for kind in kinds)
        raise InvalidValueError(f"{where} takes {expected}, got {type(value).__name__}.")
    if kinds == (int,) and isinstance(value, int) and not _BIG[0] <= value <= _BIG[1]:
        raise InvalidValueError(f"{where}: {value} is out of the 64-bit integer range.")


def resolve_named(
    condition: Any, named: Named, plain: Plain, *, compile_value: Callable[[Any], Any]
) -> ColumnElement[bool]:
    """Compile a ``Q`` (or a SQLAlchemy expression holding some) whose lookups may name
    expressions; the other lookups go to ``plain`` (as :meth:`Q.resolve` does).

    Example:
        >>> named = {"n": User.id}
        >>> def plain(lookups): return Q(**lookups).resolve(User)
        >>> print(resolve_named(Q(n__gt=1) | Q(name="Kim"), named, plain, compile_value=int))
        doc_users.id > :id_1 OR doc_users.name = :name_1
    """

    def resolve(item: Any) -> ColumnElement[bool]:
        return resolve_named(item, named, plain, compile_value=compile_value)

    if not isinstance(condition, Q):
        if not any(isinstance(element, Q) for element in visitors.iterate(condition)):
            return condition  # type: ignore[no-any-return]
        traverse: Any = visitors.replacement_traverse
        replaced: ColumnElement[bool] = traverse(
            condition, {}, lambda element: resolve(element) if isinstance(element, Q) else None
        )
        return replaced
    parts = [resolve(expression) for expression in condition.expressions]
    mine, others = split_named(condition.lookups, named)
    if others:
        parts.append(plain(others))
    parts += [
        named_condition(named, key, value, compile_value=compile_value)
        for key, value in mine.items()
    ]
    if condition.children:
        resolved = [resolve(child) for child in condition.children]
        parts.append(or_(*resolved) if condition.connector == "OR" else and_(*resolved))
    joined = true() if not parts else parts[0] if len(parts) == 1 else and_(*parts)
    # As Q.resolve: NOT of an unknown (NULL) comparison keeps the row.
    return not_(func.coalesce(joined, false())) if condition.negated else joined


def named_sort_keys(expression: ColumnElement[Any], *, descending: bool) -> tuple[SortKey, ...]:
    """Sort terms for a named expression: NULL last ascending, first descending, as field
    sort keys do on every database.

    Example:
        >>> [str(key.raw) for key in named_sort_keys(User.id, descending=True)]
        ['doc_users.id IS NULL DESC', 'doc_users.id DESC']
    """
    is_null = expression.is_(None)
    return (
        SortKey(None, descending, is_null.desc() if descending else is_null.asc()),
        SortKey(None, descending, expression.desc() if descending else expression.asc()),
    )
