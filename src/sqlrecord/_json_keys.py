"""Which fields hold JSON, and which key parts a lookup inside one may name.

Checked before any SQL exists (lookups, sort keys, value fields); the SQL of a
key path lives in ``_json_paths``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import inspect, types

from ._column_types import storable_text
from .exceptions import InvalidFieldError

__all__ = ["check_json_keys", "is_json_field", "is_json_type"]


def is_json_type(column_type: types.TypeEngine[Any]) -> bool:
    """Whether a column type stores JSON (``JSON``, ``JSONB``, or a decorator of one).

    Example:
        >>> from sqlalchemy import JSON, Integer
        >>> from sqlalchemy.dialects.postgresql import JSONB
        >>> is_json_type(JSON()), is_json_type(JSONB()), is_json_type(Integer())
        (True, True, False)
    """
    while isinstance(column_type, types.TypeDecorator):
        column_type = column_type.impl_instance
    return isinstance(column_type, types.JSON)


def is_json_field(model: type[Any], name: str) -> bool:
    """Whether ``model.name`` is a JSON column.

    Example:
        >>> is_json_field(User, "email")
        False
    """
    column = inspect(model).columns.get(name)
    return column is not None and is_json_type(column.type)


def check_json_keys(model: type[Any], lookup: str, keys: Sequence[str]) -> None:
    """Refuse JSON key parts no database can look up the same way: empty ones, array
    positions (``tags__0``: keys name object members only), text with NUL.

    Example:
        >>> check_json_keys(User, "data__tags__0", ["tags", "0"])  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        sqlrecord.exceptions.InvalidFieldError: 'data__tags__0': '0' reads like an array ...
    """
    for part in keys:
        if not part:
            problem = "a JSON key part is empty (two '__' in a row, or one at the end)"
        elif part.isascii() and part.lstrip("-").isdigit():
            problem = (
                f"{part!r} reads like an array position; JSON lookups name object keys "
                "only (array positions are not supported). Use __contains=[...] to test "
                "an array's elements"
            )
        elif not storable_text(part):
            problem = "a JSON key must be text every database can store (no NUL)"
        else:
            continue
        raise InvalidFieldError(
            f"{lookup!r}: {problem}.", model=model.__name__, field=part, valid=[]
        )
