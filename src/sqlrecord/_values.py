"""Value checks: a value must fit its column the same way on every database.

SQLite would store a 200-character string in a ``String(100)`` column, a float
in an integer column, or NaN as NULL; PostgreSQL and MySQL refuse them. These
checks run before any SQL (in ``fill``, in lookups, before a flush), so each
database gives the same typed answer.
"""

from __future__ import annotations

import decimal
import math
import sys
from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import InstanceState
from sqlalchemy.sql import ClauseElement

from ._column_types import fits, storable_text
from ._model_info import ModelInfo, model_info
from .exceptions import InvalidValueError

__all__ = [
    "check_assigned_values",
    "check_column_value",
    "check_integer_range",
    "check_rows",
    "check_value",
]


def check_column_value(model: type[Any], name: str, value: Any) -> None:
    """Raise :class:`InvalidValueError` if ``value`` does not fit column ``name`` of ``model``.

    Example:
        >>> check_column_value(User, "email", 42)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        sqlrecord.exceptions.InvalidValueError: User.email takes str, got int ...
    """
    check_value(model, model_info(model), name, value)


def check_value(model: type[Any], info: ModelInfo, name: str, value: Any) -> None:
    if value is None or isinstance(value, ClauseElement) or hasattr(value, "__clause_element__"):
        return  # SQL (`Post.views + 1`, `Post.views`): the database computes it
    target = info.relation_targets.get(name)
    if target is not None:
        many = name in info.list_relation_names and isinstance(
            value, list | tuple | set | frozenset
        )
        items = value if many else (value,)
        wrong = [item for item in items if not isinstance(item, target)]
        if wrong:
            raise InvalidValueError(
                f"{model.__name__}.{name} takes {target.__name__} objects, "
                f"got {type(wrong[0]).__name__}."
            )
        return
    if isinstance(value, str) and not storable_text(value):
        raise InvalidValueError(
            f"{model.__name__}.{name} cannot hold this text: it has NUL characters (\\x00) "
            "or invalid Unicode (lone surrogates). Clean the value first."
        )
    accepted = info.accepted_types.get(name)
    if accepted is not None and not fits(value, accepted):
        expected = " or ".join(kind.__name__ for kind in accepted)
        raise InvalidValueError(
            f"{model.__name__}.{name} takes {expected}, got {type(value).__name__} "
            f"({value!r:.60}). Convert the value before setting it."
        )
    limit = info.max_lengths.get(name)
    if limit is not None and isinstance(value, str) and len(value) > limit:
        raise InvalidValueError(
            f"{model.__name__}.{name} holds at most {limit} characters, got {len(value)}."
        )
    check_integer_range(model, info, name, value)


def check_rows(model: type[Any], rows: list[dict[str, Any]]) -> None:
    """:func:`check_value` for every value of ``rows``, a column at a time.

    ``bulk_create`` checks thousands of values; checked one by one, that costs
    more than the INSERT. A column whose values all share one everyday type is
    checked with a few whole-column operations (the longest text, the smallest and
    largest integer); any other column, or one that fails, is checked value by
    value, which also writes the error.

    Example:
        >>> check_rows(User, [{"email": "kim@example.com"}, {"email": "lee@example.com"}])
        >>> check_rows(User, [{"email": "kim@example.com"}, {"email": 42}])  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        sqlrecord.exceptions.InvalidValueError: User.email takes str, got int ...
    """
    info = model_info(model)
    column_checks = _column_checks(model, info)
    for name in set().union(*rows):
        values = [row[name] for row in rows if name in row]
        passes = column_checks.get(name)
        if passes is not None and passes(values):
            continue
        for value in values:
            check_value(model, info, name, value)


_ColumnCheck = Callable[[list[Any]], bool]
# Types whose values need a closer look than isinstance (text, numbers, bools).
_CAREFUL = (str, int, float, bool, decimal.Decimal)
_column_checks_of: dict[type[Any], dict[str, _ColumnCheck]] = {}


def _column_checks(model: type[Any], info: ModelInfo) -> dict[str, _ColumnCheck]:
    checks = _column_checks_of.get(model)
    if checks is None:
        checks = _column_checks_of[model] = {
            name: _column_check(info, name, info.accepted_types.get(name))
            for name in info.column_names
            if name not in info.relation_targets
        }
    return checks


def _column_check(info: ModelInfo, name: str, accepted: tuple[type, ...] | None) -> _ColumnCheck:
    """True when every value of the column is surely fine; False: check one by one."""
    limit = info.max_lengths.get(name, sys.maxsize)
    low, high = info.integer_ranges.get(name, (-sys.maxsize - 1, sys.maxsize))
    anything = accepted is None
    takes_str = anything or str in accepted  # type: ignore[operator]
    takes_int = anything or int in accepted  # type: ignore[operator]
    takes_float = anything or float in accepted  # type: ignore[operator]
    takes_bool = anything or bool in accepted  # type: ignore[operator]
    plain = frozenset(kind for kind in accepted or () if kind not in _CAREFUL)

    def check(values: list[Any]) -> bool:
        present = [value for value in values if value is not None]
        kinds = set(map(type, present))
        if not kinds:
            return True
        if len(kinds) > 1:
            return False
        kind = kinds.pop()
        if kind is str:
            return bool(
                takes_str
                and max(map(len, present)) <= limit
                and all(map(str.isascii, present))
                and "\x00" not in "".join(present)
            )
        if kind is int:
            return bool(takes_int and low <= min(present) and max(present) <= high)
        if kind is float:
            return bool(takes_float and all(map(math.isfinite, present)))
        if kind is bool:
            return bool(takes_bool)
        if anything:
            return not issubclass(kind, str | int)
        return kind in plain

    return check


def check_integer_range(model: type[Any], info: ModelInfo, name: str, value: Any) -> None:
    """Refuse an integer outside the column type's range, on every database alike.

    Example:
        >>> check_integer_range(User, model_info(User), "id", 2**63)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        sqlrecord.exceptions.InvalidValueError: User.id holds integers from -2147483648 ...
    """
    bounds = info.integer_ranges.get(name)
    if bounds is not None and isinstance(value, int) and not bounds[0] <= value <= bounds[1]:
        raise InvalidValueError(
            f"{model.__name__}.{name} holds integers from {bounds[0]} to {bounds[1]}; "
            f"{value} is out of range."
        )


def check_assigned_values(obj: Any, state: InstanceState[Any]) -> None:
    """Check values set directly on attributes (not through ``fill``) before writing them.

    Same verdict on every database: SQLite would store a 200-character value
    in a ``String(100)`` column that PostgreSQL refuses.
    """
    cls = type(obj)
    info = model_info(cls)
    keys = state.dict.keys() if state.key is None else state.committed_state.keys()
    for key in keys:
        if key in info.accepted_types:
            check_value(cls, info, key, state.dict.get(key))
