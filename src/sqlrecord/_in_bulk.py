"""What ``in_bulk`` is given, checked before any SQL: the key field and the ids.

The key is the primary key (a tuple per row when it has several columns) or one
unique column named by ``field=``; a field that is not unique could map two rows
to one key, so it is refused. Each id is checked against the column's type as
``fill`` checks a value, so that a string from a query string is refused alike
on every database instead of being compared as text by one of them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy.orm import QueryableAttribute
from sqlalchemy.sql import ClauseElement

from ._model_info import model_info
from ._values import check_rows
from .exceptions import InvalidFieldError, InvalidValueError

__all__ = ["checked_ids", "field_name", "key_fields"]


def field_name(model: type[Any], field: Any, *, call: str) -> str:
    """The attribute name ``field`` stands for: a name, or a column attribute of
    ``model`` (``User.email``); anything else is refused.

    Example:
        >>> field_name(User, User.email, call="in_bulk"), field_name(User, "name", call="in_bulk")
        ('email', 'name')
    """
    if isinstance(field, str):
        return field
    owner = getattr(field, "class_", None)
    if (
        isinstance(field, QueryableAttribute)
        and isinstance(owner, type)
        and issubclass(model, owner)
    ):
        return str(field.key)
    raise InvalidValueError(
        f"{model.__name__}.{call}() takes field names (or {model.__name__}'s column "
        f"attributes such as {model.__name__}.id), got {type(field).__name__} ({field!r:.60})."
    )


def key_fields(model: type[Any], field: Any) -> list[str]:
    """The names of the columns ``in_bulk`` keys on: the primary key for ``None``,
    else ``field``, which must be a column that is unique on its own.

    Example:
        >>> key_fields(User, None), key_fields(User, "email")
        (['id'], ['email'])
        >>> key_fields(User, "name")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        sqlrecord.exceptions.InvalidFieldError: User.in_bulk(field='name') needs ...
    """
    info = model_info(model)
    keys = list(info.primary_key_names)
    if field is None:
        return keys
    name = field_name(model, field, call="in_bulk")
    # A column of a composite primary key is not unique by itself.
    unique = [key for key in info.unique_names if len(keys) == 1 or key not in keys]
    if name not in unique:
        label = model.__name__
        what = "is not a column of it" if name not in info.column_set else "is not unique"
        raise InvalidFieldError(
            f"{label}.in_bulk(field={name!r}) needs a column that is unique on its own, "
            f"and {name!r} {what}. Unique columns of {label}: {', '.join(unique) or '(none)'}.",
            model=label,
            field=name,
            valid=unique,
        )
    return [name]


def checked_ids(model: type[Any], names: list[str], ids: Iterable[Any]) -> list[Any]:
    """``ids`` checked against the key columns' types, without repeats, in the order given
    (each a tuple when the key has several columns).

    Example:
        >>> checked_ids(User, ["id"], [3, 1, 3])
        [3, 1]
        >>> checked_ids(User, ["id"], ["3"])  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        sqlrecord.exceptions.InvalidValueError: User.id takes int, got str ...
    """
    label = model.__name__
    if isinstance(ids, str | bytes | Mapping) or not isinstance(ids, Iterable):
        raise InvalidValueError(
            f"{label}.in_bulk() takes a list (or set, tuple, ...) of keys, got "
            f"{type(ids).__name__} ({ids!r:.60})."
        )
    given = list(ids)
    width = len(names)
    if width > 1:
        given = [_key_tuple(label, names, key) for key in given]
        rows = [dict(zip(names, key, strict=True)) for key in given]
    else:
        rows = [{names[0]: key} for key in given]
    for row in rows:
        for value in row.values():
            if value is None or isinstance(value, ClauseElement):
                raise InvalidValueError(
                    f"{label}.in_bulk() takes plain key values; got {value!r:.60}, which "
                    "matches no row. Leave it out of the list."
                )
    check_rows(model, rows)
    try:
        return list(dict.fromkeys(given))
    except TypeError as error:  # a value the column accepts that cannot be a dict key
        raise InvalidValueError(
            f"{label}.in_bulk() keys must be hashable to key the result: {error}."
        ) from error


def _key_tuple(label: str, names: list[str], key: Any) -> tuple[Any, ...]:
    if isinstance(key, tuple | list) and len(key) == len(names):
        return tuple(key)
    raise InvalidValueError(
        f"{label}'s primary key has {len(names)} columns ({', '.join(names)}): each key "
        f"given to in_bulk() is a tuple of {len(names)} values, got {key!r:.60}."
    )
