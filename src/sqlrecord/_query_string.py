"""Text from a query string, converted to a column's Python type, or refused.

A query string carries only text: ``RequestFilters`` asks here for the value
of each filter as the first of the column's accepted types it parses as
(ISO dates, whole numbers of at most 19 digits, finite floats and decimals,
enum values, ``true``/``false``). A value that parses as none of them is an
:class:`~sqlrecord.exceptions.InvalidValueError` naming the key.
"""

from __future__ import annotations

import datetime as dt
import decimal
import enum
import re
from typing import Any

from .exceptions import InvalidValueError

__all__ = ["LIST_OPERATORS", "parse_boolean", "parse_value", "parse_values"]

#: Operators whose value is a list, written comma-separated (``status__in=a,b``).
LIST_OPERATORS = frozenset({"in", "notin", "between"})
_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off"})
_INTEGER = re.compile(r"[+-]?\d{1,19}")


def parse_values(key: str, text: str, operator: str, types: tuple[type, ...]) -> Any:
    """The value of filter ``key`` (with ``operator``): one value, or a list for ``in``/``between``.

    Example:
        >>> parse_values("id__in", "20, 30", "in", (int,))
        [20, 30]
        >>> parse_values("id__gte", "x", "gte", (int,))
        Traceback (most recent call last):
        ...
        sqlrecord.exceptions.InvalidValueError: id__gte takes int; 'x' is not one.
    """
    if operator in LIST_OPERATORS:
        parts = [part.strip() for part in text.split(",")]
        if operator == "between" and len(parts) != 2:
            raise InvalidValueError(f"{key} takes two values: 'low,high'.")
        return [parse_value(key, part, types) for part in parts]
    return parse_value(key, text, types)


def parse_value(key: str, text: str, types: tuple[type, ...]) -> Any:
    """``text`` as the first of the column's accepted ``types`` it parses as.

    Example:
        >>> parse_value("created_at__gte", "2026-12-06", (dt.datetime,))
        datetime.datetime(2026, 12, 6, 0, 0, tzinfo=datetime.timezone.utc)
    """
    if not isinstance(text, str):
        raise InvalidValueError(f"{key} takes text from a query string, got {type(text).__name__}.")
    for kind in types:
        try:
            return _parse(kind, key, text)
        except (ValueError, ArithmeticError):
            continue
    expected = " or ".join(kind.__name__ for kind in types)
    raise InvalidValueError(f"{key} takes {expected}; {text[:40]!r} is not one.")


def _parse(kind: type, key: str, text: str) -> Any:
    if kind is bool:
        return parse_boolean(key, text)
    if kind is int:
        if not _INTEGER.fullmatch(text):
            raise ValueError(text)
        return int(text)
    if kind is float:
        value = float(text)
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError(text)  # NaN and infinities compare as no database agrees
        return value
    if kind is decimal.Decimal:
        number = decimal.Decimal(text)
        if not number.is_finite():
            raise ValueError(text)
        return number
    if kind is dt.datetime:
        moment = dt.datetime.fromisoformat(text)
        return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)
    if kind is dt.date:
        return dt.date.fromisoformat(text)
    if isinstance(kind, type) and issubclass(kind, enum.Enum):
        return kind(text)
    if kind is str:
        return text
    raise ValueError(text)


def parse_boolean(key: str, text: str) -> bool:
    """``true``/``1``/``yes``/``on`` or ``false``/``0``/``no``/``off``, in any case.

    Example:
        >>> parse_boolean("is_admin", " Yes"), parse_boolean("is_admin", "off")
        (True, False)
    """
    lowered = text.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise InvalidValueError(f"{key} takes true or false; {text[:40]!r} is not one.")
