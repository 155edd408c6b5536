"""Whether a Core INSERT of plain rows stores what the ORM's unit of work would.

``bulk_create`` owes its users what ``session.add_all`` of ``Model(**row)``
objects and a flush give. For a model that nothing of the user's watches, a Core
INSERT per batch gives the same rows without building an object per row: the
ORM leaves Python-side defaults to Core too, and this module hands Core the rows
as the unit of work would (column keys, ``None`` left out where the ORM leaves
it out). Anything that could see the difference keeps the objects: a listener or
validator, a version counter, inheritance (the discriminator), a dataclass model.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Any

from sqlalchemy import Column, Integer, MetaData, Table, inspect
from sqlalchemy.orm import Mapper, Session, registry

from ._internals import listener_count

__all__ = ["TableRows", "why_orm_read", "why_watched"]

# Every event that can watch a new object on its way in, by where it is listened for.
_MAPPER_EVENTS = ("before_insert", "after_insert", "before_update", "after_update")
_INSTANCE_EVENTS = ("init_failure", "load", "refresh", "refresh_flush")
_ATTRIBUTE_EVENTS = ("set", "append", "remove", "init_scalar", "modified", "bulk_replace")
_SESSION_EVENTS = (
    "before_flush",
    "after_flush",
    "after_flush_postexec",
    "before_attach",
    "after_attach",
    "transient_to_pending",
    "pending_to_persistent",
    "pending_to_transient",
    "persistent_to_detached",
    "detached_to_persistent",
    "do_orm_execute",
)

#: A Core INSERT's table, and what turns a row of field values into a row of it.
TableRows = tuple[Table, Callable[[dict[str, Any]], dict[str, Any]]]


def _listened(target: Any, names: tuple[str, ...]) -> str | None:
    return next((name for name in names if listener_count(target, name)), None)


@functools.cache
def _own_init_listeners() -> int:
    """How many ``init`` listeners SQLAlchemy itself gives every mapped class (one,
    which configures the mappers on first use): more on a model are the user's."""

    class Probe:
        pass

    registry().map_imperatively(
        Probe, Table("probe", MetaData(), Column("id", Integer, primary_key=True))
    )
    return listener_count(inspect(Probe).class_manager, "init")


def _why_watched(mapper: Mapper[Any], session: Session) -> str | None:
    hook = _listened(mapper, _MAPPER_EVENTS) or _listened(mapper.class_manager, _INSTANCE_EVENTS)
    if hook is None and listener_count(mapper.class_manager, "init") > _own_init_listeners():
        hook = "init"
    if hook is not None:
        return f"a {hook!r} listener watches the objects"
    # A column's listeners are the user's (validators among them); a relationship's
    # are backrefs, and bulk rows set no relationship.
    manager = mapper.class_manager
    for prop in mapper.column_attrs:
        hook = _listened(manager[prop.key], _ATTRIBUTE_EVENTS)
        if hook is not None:
            return f"a {hook!r} listener (a validator?) watches {prop.key!r}"
    hook = _listened(session, _SESSION_EVENTS)
    if hook is not None:
        return f"a session {hook!r} listener watches the objects"
    return None


def _why_not_plain(model: type[Any], mapper: Mapper[Any], session: Session) -> str | None:
    if not isinstance(mapper.local_table, Table):
        return "the model is not mapped to a plain table"
    if mapper.inherits is not None or mapper.polymorphic_on is not None:
        return "inheritance: the objects set the discriminator"
    if mapper.version_id_col is not None:
        return "a version counter: the objects set it"
    if dataclasses.is_dataclass(model):
        return "a dataclass model: its __init__ runs per object"
    return _why_watched(mapper, session)


def why_watched(model: type[Any], session: Session) -> tuple[str | None, TableRows | None]:
    """Why a Core INSERT of ``model``'s rows in ``session`` might store something else
    than ``add_all`` and a flush would, and ``None``; or ``None`` and the table with
    a row converter, when it stores the same.

    Example:
        >>> why, (table, as_row) = why_watched(Memo, Session())
        >>> why, table.name, as_row({"text": "hi", "created_at": None, "deleted_at": None})
        (None, 'doc_memos', {'text': 'hi', 'deleted_at': None})
    """
    mapper: Mapper[Any] = inspect(model)
    reason = _why_not_plain(model, mapper, session)
    if reason is not None:
        return reason, None
    table = mapper.local_table
    assert isinstance(table, Table)  # checked by _why_not_plain
    column_of: dict[str, Column[Any]] = {}
    for prop in mapper.column_attrs:
        column = prop.columns[0]
        if isinstance(column, Column) and column.table is table:
            column_of[prop.key] = column
    # The unit of work leaves a None out of the INSERT, unless the type stores None as
    # a value of its own (JSON's null): where the column has a default or is a key,
    # that default (or the generated key) applies; elsewhere the row gets NULL either
    # way, and keeping the None keeps the rows' columns alike (one executemany).
    drops_none = {
        key
        for key, column in column_of.items()
        if not column.type.should_evaluate_none
        and (column.primary_key or column.default is not None or column.server_default is not None)
    }

    renamed = any(key != column.key for key, column in column_of.items())

    def as_table_row(row: dict[str, Any]) -> dict[str, Any]:
        if not renamed and drops_none.isdisjoint(row):
            return row  # already what the INSERT takes
        return {
            str(column_of[key].key): value
            for key, value in row.items()
            if value is not None or key not in drops_none
        }

    return None, (table, as_table_row)


def why_orm_read(session: Session) -> str | None:
    """Why a SELECT of columns must be the ORM's ``session.execute``, whose rows are
    otherwise the same as Core's on the session's connection (the same SQL, with the
    ORM's criteria; the same column types): a ``do_orm_execute`` listener may change the
    statement or its result, and with autoflush on the session flushes its changes
    first. ``None`` when neither applies.

    Example:
        >>> why_orm_read(Session()) is None
        True
        >>> session = Session()
        >>> session.add(User(email="kim@example.com"))
        >>> why_orm_read(session)
        'autoflush: the session flushes its changes before it reads'
    """
    if listener_count(session, "do_orm_execute"):
        return "a 'do_orm_execute' listener may change the statement or its rows"
    if session.autoflush and (session.new or session.dirty or session.deleted):
        return "autoflush: the session flushes its changes before it reads"
    return None
