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

from .exceptions import InvalidValueError
from .introspection import ModelInfo, fits, model_info, storable_text

__all__ = ["check_assigned_values", "check_column_value", "check_integer_range", "check_value"]


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
    if value is None:
        return
    quick = _quick_checks(model, info).get(name)
    if quick is not None and quick(value):
        return  # the common case, decided without the general checks below
    if isinstance(value, ClauseElement):
        return
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


# -- quick checks ------------------------------------------------------------
#
# ``bulk_create`` checks every value of every row, and the general checks above
# cost more than the INSERT itself on a wide model. For each column, a closure
# answers True for the everyday value (exact type, ASCII text within the length,
# an integer in range) with a couple of operations; anything else, valid or not,
# goes through the general checks, which also write the error messages.

_QuickCheck = Callable[[Any], bool]
_quick: dict[type[Any], dict[str, _QuickCheck]] = {}
# Types whose values need a closer look than isinstance (text, numbers, bools).
_CAREFUL = (str, int, float, bool, decimal.Decimal)


def _quick_checks(model: type[Any], info: ModelInfo) -> dict[str, _QuickCheck]:
    checks = _quick.get(model)
    if checks is None:
        checks = _quick[model] = {
            name: check
            for name, accepted in info.accepted_types.items()
            if (check := _quick_check(info, name, accepted)) is not None
        }
    return checks


def _quick_check(info: ModelInfo, name: str, accepted: tuple[type, ...]) -> _QuickCheck | None:
    if name in info.relation_targets:
        return None
    takes_str, takes_int = str in accepted, int in accepted
    takes_float, takes_bool = float in accepted, bool in accepted
    limit = info.max_lengths.get(name, sys.maxsize)
    low, high = info.integer_ranges.get(name, (-sys.maxsize - 1, sys.maxsize))
    plain = frozenset(kind for kind in accepted if kind not in _CAREFUL)

    def check(value: Any) -> bool:
        kind = type(value)
        if kind is str:
            return takes_str and len(value) <= limit and value.isascii() and "\x00" not in value
        if kind is int:
            return takes_int and low <= value <= high
        if kind is float:
            return takes_float and math.isfinite(value)
        if kind is bool:
            return takes_bool
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
