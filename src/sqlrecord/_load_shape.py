"""Which columns a query loads into its objects: the names ``only()``/``defer()`` take,
checked, and the loader options they become.

An object always gets what it needs to be one: its primary key (its identity),
the version column of a versioned model (a save checks it) and the polymorphic
discriminator (it decides the class). ``only()`` adds them; ``defer()`` refuses
them. A column left out is not loaded, and reading it later raises
:class:`~sqlrecord.exceptions.NotLoadedError` (``_lazy_guard``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import inspect
from sqlalchemy.orm import ColumnProperty, Mapper, QueryableAttribute, defer, load_only

from ._model_info import model_info
from .exceptions import InvalidFieldError, InvalidValueError

__all__ = ["column_keys", "required_columns", "shape_options"]


def column_keys(model: type[Any], fields: Iterable[Any], call: str) -> tuple[str, ...]:
    """The attribute keys of ``fields`` (names or column attributes such as ``User.email``),
    each checked to be a column of ``model``; ``call`` (``"only()"``) names the caller.

    Example:
        >>> column_keys(User, ["email", User.name, "email"], "only()")
        ('email', 'name')
        >>> column_keys(User, ["posts"], "only()")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        sqlrecord.exceptions.InvalidFieldError: User.posts is a relationship, ... `load('posts')`.
    """
    keys = [_column_key(model, field, call) for field in fields]
    if not keys:
        info = model_info(model)
        example = (*info.settable_column_names, *info.column_names)[0]
        raise InvalidValueError(
            f"{call} needs at least one column name, as in {call[:-1]}{example!r})."
        )
    return tuple(dict.fromkeys(keys))


def _column_key(model: type[Any], field: Any, call: str) -> str:
    info = model_info(model)
    name = model.__name__
    if isinstance(field, QueryableAttribute):
        owner = field.parent
        ours = isinstance(owner, Mapper) and inspect(model).isa(owner)
        if ours and field.key in info.column_set and isinstance(field.property, ColumnProperty):
            return field.key
        key, shown = field.key, f"{field.class_.__name__}.{field.key}"
        if key not in info.relation_names or not isinstance(owner, Mapper):
            raise _unknown(model, shown, call, f"{shown} is not a column of {name}")
    elif isinstance(field, str):
        key, shown = field, repr(field)
        if key in info.column_set:
            return key
        if key not in info.relation_names:
            raise _unknown(model, key, call, f"{name} has no column {shown}")
    else:
        raise InvalidValueError(
            f"{call} takes column names (strings) or column attributes ({name}.<column>), "
            f"got {type(field).__name__}."
        )
    raise InvalidFieldError(
        f"{name}.{key} is a relationship, and {call} takes columns. Load a relationship "
        f"with the query's `load({key!r})`.",
        model=name,
        field=key,
        valid=info.column_names,
    )


def _unknown(model: type[Any], field: str, call: str, what: str) -> InvalidFieldError:
    columns = model_info(model).column_names
    return InvalidFieldError(
        f"{call}: {what}. Columns: {', '.join(columns)}.",
        model=model.__name__,
        field=field,
        valid=columns,
    )


def required_columns(model: type[Any]) -> dict[str, str]:
    """The columns every object of ``model`` loads, each with the reason.

    Example:
        >>> required_columns(User)
        {'id': 'the primary key: it identifies the object'}
    """
    mapper: Mapper[Any] = inspect(model)
    required = dict.fromkeys(
        model_info(model).primary_key_names, "the primary key: it identifies the object"
    )
    for column, why in (
        (mapper.version_id_col, "the version column: a save checks it"),
        (mapper.polymorphic_on, "the discriminator: it decides the object's class"),
    ):
        for prop in mapper.column_attrs:
            if column is not None and any(column is each for each in prop.columns):
                required.setdefault(prop.key, why)
    return required


def shape_options(
    model: type[Any], only: tuple[str, ...] | None, deferred: tuple[str, ...]
) -> list[Any]:
    """The loader options for ``only`` (the columns to load, ``None``: all) and
    ``deferred`` (columns not to load): ``load_only`` or ``defer``.

    Example:
        >>> from sqlalchemy import select
        >>> print(select(User).options(*shape_options(User, ("email",), ())))
        SELECT doc_users.id, doc_users.email FROM doc_users
        >>> print(select(User).options(*shape_options(User, None, ("name",))))
        ... # doctest: +ELLIPSIS
        SELECT doc_users.id, doc_users.email, doc_users.is_admin, ... FROM doc_users
    """
    if only is None:
        return [defer(getattr(model, key)) for key in deferred]
    loaded = dict.fromkeys((*required_columns(model), *only))
    return [load_only(*(getattr(model, key) for key in loaded if key not in deferred))]
