"""Which Python values a SQL column type takes, judged the same on every database.

``fill``, lookups and the value checks ask here before any SQL exists, so a
value SQLite would store and PostgreSQL refuse (NUL in text, NaN, a 40-bit
integer in an ``Integer`` column) gets the same answer everywhere.
"""

from __future__ import annotations

import datetime as dt
import decimal
import math
import uuid
from typing import Any

from sqlalchemy import types

__all__ = ["accepted_types", "fits", "integer_range", "storable_text"]

# Order matters: the first matching SQLAlchemy type wins (Boolean before Integer
# is irrelevant as they are unrelated classes, but DateTime must precede Date).
_TYPE_RULES: tuple[tuple[type[types.TypeEngine[Any]], tuple[type, ...]], ...] = (
    (types.Boolean, (bool,)),
    (types.Integer, (int,)),
    (types.Numeric, (int, float, decimal.Decimal)),
    (types.String, (str,)),
    (types.DateTime, (dt.datetime,)),
    (types.Date, (dt.date,)),
    (types.Time, (dt.time,)),
    (types.Interval, (dt.timedelta,)),
    (types.LargeBinary, (bytes, bytearray, memoryview)),
    (types.Uuid, (uuid.UUID, str)),
)


def fits(value: Any, accepted: tuple[type, ...]) -> bool:
    """``isinstance``, except that ``True``/``False`` are not numbers here.

    Example:
        >>> fits(3, (int,)), fits(True, (int,)), fits(True, (bool,)), fits("a" + chr(0), (str,))
        (True, False, True, False)
    """
    if isinstance(value, bool) and bool not in accepted:
        return False
    if isinstance(value, str) and not storable_text(value):
        return False
    if isinstance(value, float | decimal.Decimal) and not _finite(value):
        return False  # MySQL refuses NaN/Infinity and SQLite turns NaN into NULL
    return isinstance(value, accepted)


def _finite(value: float | decimal.Decimal) -> bool:
    return value.is_finite() if isinstance(value, decimal.Decimal) else math.isfinite(value)


def storable_text(value: str) -> bool:
    """Whether every database can store ``value``: no NUL (PostgreSQL refuses it) and
    valid Unicode (a lone surrogate cannot be encoded as UTF-8).

    Example:
        >>> storable_text("Kim"), storable_text("a" + chr(0)), storable_text(chr(0xD800))
        (True, False, False)
    """
    if "\x00" in value:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def accepted_types(column_type: types.TypeEngine[Any]) -> tuple[type, ...] | None:
    """The Python types a column (or SQL expression) type takes, when unambiguous.

    Example:
        >>> from sqlalchemy import Integer, JSON
        >>> accepted_types(Integer()), accepted_types(JSON())
        ((<class 'int'>,), None)
    """
    if isinstance(column_type, types.TypeDecorator):
        # A decorator may accept anything its bind processor converts; only
        # trust sqlrecord's own, which declares what it takes.
        return getattr(column_type, "accepted_types", None)
    if isinstance(column_type, types.Enum):
        enum_class = column_type.enum_class
        return (str, enum_class) if enum_class is not None else (str,)
    for sql_type, python_types in _TYPE_RULES:
        if isinstance(column_type, sql_type):
            return python_types
    return None


# The portable range of each integer type: what PostgreSQL and MySQL store in it
# (SQLite would take 64 bits anywhere), so a value is judged the same everywhere.
_INTEGER_BITS = ((types.SmallInteger, 16), (types.BigInteger, 64), (types.Integer, 32))


def integer_range(column_type: types.TypeEngine[Any]) -> tuple[int, int] | None:
    """The smallest and largest integer every database stores in ``column_type``.

    Example:
        >>> from sqlalchemy import SmallInteger, String
        >>> integer_range(SmallInteger()), integer_range(String())
        ((-32768, 32767), None)
    """
    for sql_type, bits in _INTEGER_BITS:
        if isinstance(column_type, sql_type):
            return -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    return None
