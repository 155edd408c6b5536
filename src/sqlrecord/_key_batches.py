"""Many keys in ``IN`` lists: how many fit one statement, and the condition itself.

Every database caps the bound parameters of one statement: SQLite at
``SQLITE_MAX_VARIABLE_NUMBER`` (999 before SQLite 3.32, 32766 since), asyncpg at
32767, MySQL/MariaDB at 65535. A call that takes a list of keys of any length
(``in_bulk``, ``bulk_update``'s check of its rows) sends them in batches that stay
below the cap, counting the parameters the rest of the statement already has.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, TypeVar

from sqlalchemy import tuple_
from sqlalchemy.engine import Dialect
from sqlalchemy.sql import ColumnElement

__all__ = ["batches", "key_condition", "keys_per_statement"]

_T = TypeVar("_T")

#: Keys per statement at most, whatever the cap: MySQL's range optimizer gives up on
#: an index for IN lists beyond its memory budget (8 MB: some tens of thousands of
#: values) and scans the whole table instead.
MOST_KEYS = 5000


def parameter_cap(dialect: Dialect) -> int:
    """The most bound parameters one statement may have on ``dialect``.

    Example:
        >>> from sqlalchemy.dialects import mysql, postgresql
        >>> parameter_cap(postgresql.dialect()), parameter_cap(mysql.dialect())
        (32767, 65535)
    """
    if dialect.name == "sqlite":
        version = getattr(dialect, "server_version_info", None) or (3, 0)
        return 32766 if tuple(version) >= (3, 32) else 999
    if dialect.name == "postgresql":
        return 32767  # asyncpg's limit (the protocol's is 65535)
    if dialect.name in ("mysql", "mariadb"):
        return 65535
    return 999


def parameters_of(statement: Any, dialect: Dialect) -> int:
    """How many bound parameters ``statement`` sends on ``dialect`` (an expanding
    ``IN`` counts its values).

    Example:
        >>> from sqlalchemy import select
        >>> from sqlalchemy.dialects import sqlite
        >>> parameters_of(select(User).where(User.id.in_([1, 2, 3]), User.name == "K"),
        ...               sqlite.dialect())
        4
    """
    compiled = statement.compile(dialect=dialect)
    count = 0
    for name, value in compiled.params.items():
        expanding = compiled.binds[name].expanding
        count += len(value) if expanding and isinstance(value, Sequence) else 1
    return count


def keys_per_statement(dialect: Dialect, width: int, *, used: int = 0) -> int:
    """How many keys of ``width`` columns one ``IN`` list may hold on ``dialect``
    when the rest of the statement has ``used`` parameters (at least one key).

    Example:
        >>> from sqlalchemy.dialects import sqlite
        >>> dialect = sqlite.dialect()
        >>> dialect.server_version_info = (3, 31, 1)
        >>> keys_per_statement(dialect, 2, used=99)
        450
    """
    room = parameter_cap(dialect) - used
    return max(1, min(MOST_KEYS, room // width))


def batches(items: Sequence[_T], size: int) -> Iterator[Sequence[_T]]:
    """``items`` in consecutive slices of at most ``size``.

    Example:
        >>> [list(batch) for batch in batches([1, 2, 3], 2)]
        [[1, 2], [3]]
    """
    for start in range(0, len(items), size):
        yield items[start : start + size]


def key_condition(columns: Sequence[Any], keys: Sequence[Any]) -> ColumnElement[bool]:
    """``column IN (keys)``, or ``(a, b) IN ((1, 2), ...)`` for keys of several columns.

    Example:
        >>> print(key_condition([User.id], [1, 2]))
        doc_users.id IN (__[POSTCOMPILE_id_1])
    """
    if len(columns) == 1:
        condition: ColumnElement[bool] = columns[0].in_(keys)
        return condition
    return tuple_(*columns).in_(keys)
