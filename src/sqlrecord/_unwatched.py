"""Whether a Core INSERT of plain rows stores what the ORM's unit of work would.

``bulk_create`` owes its users what ``session.add_all`` of ``Model(**row)``
objects and a flush give. For a model that nothing of the user's watches, a Core
INSERT per batch gives the same rows without building an object per row: the
ORM leaves Python-side defaults to Core too, and this module hands Core the rows
as the unit of work would (column keys, ``None`` left out where the ORM leaves
it out). Anything that could see the difference keeps the objects: a listener or
validator, a version counter, inheritance (the discriminator), a dataclass model.

A new object's ``save`` (:func:`why_row_insert_differs`) is the same INSERT of one
row, built from the object: its validators have run already, and the object then takes
the values the flush would give it (``_row_insert.py``); in an own session nothing
listens to (:func:`why_session_watched`), without the session.
Anything that could tell the two apart keeps the flush: a listener of the flush or of
the object's way into and out of the session, a relationship set on the object, a
value the database computes that the INSERT cannot return (the flush would expire it).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Any

from sqlalchemy import Column, Insert, Integer, MetaData, Table, inspect
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Mapper, Session, SessionEvents, registry

from ._internals import first_listened, listener_count

__all__ = [
    "RowInsert",
    "TableRows",
    "computed_on_insert",
    "insert_statement",
    "why_not_plain_table",
    "why_orm_read",
    "why_row_insert_differs",
    "why_session_watched",
    "why_watched",
]

# The session's events of an object's flush and of its way into and out of the session
# (an own session closes: persistent_to_detached). A row inserted by Core fires none.
_FLUSH_SESSION_EVENTS = (
    "before_flush",
    "after_flush",
    "after_flush_postexec",
    "before_attach",
    "after_attach",
    "transient_to_pending",
    "pending_to_persistent",
    "pending_to_transient",
    "persistent_to_detached",
)
_FLUSH_EVENTS = ("before_insert", "after_insert")

# Every event that can watch a new object on its way in, by where it is listened for.
_MAPPER_EVENTS = ("before_insert", "after_insert", "before_update", "after_update")
_INSTANCE_EVENTS = ("init_failure", "load", "refresh", "refresh_flush")
_ATTRIBUTE_EVENTS = ("set", "append", "remove", "init_scalar", "modified", "bulk_replace")
_SESSION_EVENTS = (*_FLUSH_SESSION_EVENTS, "detached_to_persistent", "do_orm_execute")

#: A Core INSERT's table, and what turns a row of field values into a row of it.
TableRows = tuple[Table, Callable[[dict[str, Any]], dict[str, Any]]]
#: A new object's INSERT (returning what the flush's returns), and the row converter.
RowInsert = tuple[Insert, Callable[[dict[str, Any]], dict[str, Any]]]

# Every session event: a listener of any of them sees an own session's life (its begin,
# commit and close), which a row inserted on a connection of its own does not have.
_ALL_SESSION_EVENTS = tuple(
    name for name in dir(SessionEvents) if not name.startswith("_") and name != "dispatch"
)


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
    hook = first_listened(mapper, _MAPPER_EVENTS) or first_listened(
        mapper.class_manager, _INSTANCE_EVENTS
    )
    if hook is None and listener_count(mapper.class_manager, "init") > _own_init_listeners():
        hook = "init"
    if hook is not None:
        return f"a {hook!r} listener watches the objects"
    # A column's listeners are the user's (validators among them); a relationship's
    # are backrefs, and bulk rows set no relationship.
    manager = mapper.class_manager
    for prop in mapper.column_attrs:
        hook = first_listened(manager[prop.key], _ATTRIBUTE_EVENTS)
        if hook is not None:
            return f"a {hook!r} listener (a validator?) watches {prop.key!r}"
    hook = first_listened(session, _SESSION_EVENTS)
    if hook is not None:
        return f"a session {hook!r} listener watches the objects"
    return None


def why_not_plain_table(model: type[Any], mapper: Mapper[Any]) -> str | None:
    """Why Core could not write ``model``'s rows as the flush writes them: not a plain
    table, inheritance, a version counter, a dataclass; ``None`` when it could.

    Example:
        >>> why_not_plain_table(Memo, inspect(Memo)) is None
        True
    """
    return _why_not_plain_mapping(mapper)


@functools.cache  # per mapper: it reads the mapping only
def _why_not_plain_mapping(mapper: Mapper[Any]) -> str | None:
    if not isinstance(mapper.local_table, Table):
        return "the model is not mapped to a plain table"
    if mapper.inherits is not None or mapper.polymorphic_on is not None:
        return "inheritance: the objects set the discriminator"
    if mapper.version_id_col is not None:
        return "a version counter: the objects set it"
    if dataclasses.is_dataclass(mapper.class_):
        # Its fields' defaults are the ORM's to deliver to the INSERT, not the column's.
        return "a dataclass model: its __init__ runs per object"
    return None


def _why_not_plain(model: type[Any], mapper: Mapper[Any], session: Session) -> str | None:
    return why_not_plain_table(model, mapper) or _why_watched(mapper, session)


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
    return None, _table_rows(mapper)


@functools.cache  # per mapper: it reads the mapping only, which does not change
def _table_rows(mapper: Mapper[Any]) -> TableRows:
    table = mapper.local_table
    assert isinstance(table, Table)  # checked by why_not_plain_table
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

    return table, as_table_row


def why_row_insert_differs(
    obj: Any, session: Session, dialect: Dialect | None
) -> tuple[str | None, RowInsert | None]:
    """Why a Core INSERT of the new object ``obj``'s row, followed by the values the
    flush would give the object (``_row_insert.settle_inserted``), might differ from
    ``session.add(obj)`` and a flush; ``None`` and
    the INSERT (:func:`insert_statement`) with its row converter when it cannot.
    ``dialect``: the one the row is written with (``None``: unknown).

    The caller proves the flush would be one statement (``_one_statement``).

    Example:
        >>> from sqlalchemy.dialects import postgresql
        >>> dialect = postgresql.dialect()
        >>> why_row_insert_differs(Memo(text="hi"), Session(), dialect)[0]
        'no connection yet: what the database returns is not known'
        >>> dialect.server_version_info = (16, 0)  # as its first connection leaves it
        >>> why, (statement, as_row) = why_row_insert_differs(Memo(text="hi"), Session(), dialect)
        >>> why, statement.table.name
        (None, 'doc_memos')
        >>> why_row_insert_differs(Memo(text="hi"), Session(), None)[0]
        "the INSERT would not return 'created_at' (the database's value): the flush expires it"
        >>> why_row_insert_differs(User(email="kim@example.com", posts=[]), Session(), dialect)[0]
        "relationship 'posts' is set on the object: the flush writes through it"
    """
    model = type(obj)
    mapper: Mapper[Any] = inspect(model)
    reason = why_not_plain_table(model, mapper) or _why_flush_watched(mapper, session)
    if reason is not None:
        return reason, None
    table, as_table_row = _table_rows(mapper)
    loaded = inspect(obj).dict
    for relation in mapper.relationships:
        if relation.key in loaded:
            why = f"relationship {relation.key!r} is set on the object: the flush writes through it"
            return why, None
    reason = (
        _why_not_table_columns(mapper, table)
        or _why_not_returned(mapper, table, dialect)
        or _why_no_key(mapper, table, loaded)
    )
    if reason is not None:
        return reason, None
    return None, (insert_statement(table), as_table_row)


def _why_flush_watched(mapper: Mapper[Any], session: Session) -> str | None:
    hook = first_listened(mapper, _FLUSH_EVENTS) or first_listened(
        mapper.class_manager, ("refresh_flush",)
    )
    if hook is not None:
        return f"a {hook!r} listener watches the flush"
    hook = first_listened(session, _FLUSH_SESSION_EVENTS)
    if hook is not None:
        return f"a session {hook!r} listener watches the flush"
    return None


@functools.cache  # per mapper: it reads the mapping only
def _why_not_table_columns(mapper: Mapper[Any], table: Table) -> str | None:
    """Why the flush could leave an attribute expired or set that the row does not hold:
    a ``column_property`` of an expression (the flush expires it), a Sequence on a column
    that is not the key (run before the INSERT, on some databases only)."""
    for prop in mapper.column_attrs:
        if any(
            not isinstance(column, Column) or column.table is not table for column in prop.columns
        ):
            return f"{prop.key!r} is an expression or another table's: the flush expires it"
    for column in table.columns:
        default = column.default
        if default is not None and default.is_sequence and not column.primary_key:
            return f"{column.key!r} takes a Sequence: the flush may run it before the INSERT"
    return None


def _why_not_returned(mapper: Mapper[Any], table: Table, dialect: Dialect | None) -> str | None:
    """Why the flush could leave a column of the new row expired: the database computes
    its value (a server default, a SQL expression) and the flush's INSERT would not return
    it (``Mapper.eager_defaults``: with ``"auto"``, where the database returns from an
    INSERT of many rows too; with ``True``, from one)."""
    if dialect is not None and dialect.server_version_info is None:
        # Before the first connection the dialect knows nothing of the server, and what
        # it would say now (some of it memoized, insert_executemany_returning among
        # them) would stay wrong for the flushes that follow: ask nothing of it yet.
        return "no connection yet: what the database returns is not known"
    eager = mapper.base_mapper.eager_defaults
    returns = (
        dialect is not None
        and table.implicit_returning
        and (
            bool(dialect.insert_executemany_returning)
            if eager == "auto"
            else eager is True and bool(dialect.insert_returning)
        )
    )
    computed = None if returns else _computed_besides_key(table)
    if computed is not None:
        return (
            f"the INSERT would not return {computed!r} (the database's value): the flush expires it"
        )
    return None


@functools.cache  # per table: it reads the table only
def _computed_besides_key(table: Table) -> str | None:
    """The first column of ``table`` whose value the database computes on INSERT, but the
    generated key (which comes back without RETURNING too: the cursor's last row id)."""
    for column in table.columns:
        if computed_on_insert(column) and column is not table.autoincrement_column:
            return str(column.key)
    return None


def computed_on_insert(column: Any) -> bool:
    """Whether the database computes ``column``'s value on INSERT, as the flush reckons
    it: a server default, or a SQL expression as its default.

    Example:
        >>> table = inspect(Memo).local_table
        >>> computed_on_insert(table.c.created_at), computed_on_insert(table.c.text)
        (True, False)
    """
    default = column.default
    return column.server_default is not None or (
        default is not None and bool(default.is_clause_element)
    )


@functools.cache  # one per table: built once, and Core's compiled cache keys it cheaply
def insert_statement(table: Table) -> Insert:
    """The INSERT of one row of ``table`` that returns what the flush's INSERT returns:
    the generated key (by RETURNING, or the cursor's last row id), and the columns the
    database computes (a server default, a SQL expression), by RETURNING where there is
    one. (Named, and only when there are any: without columns, Core's ``return_defaults``
    returns every column the row leaves out, where the flush leaves them unloaded.)

    Example:
        >>> print(insert_statement(inspect(Memo).local_table))  # doctest: +ELLIPSIS
        INSERT INTO doc_memos (...) VALUES (...)
    """
    computed = [column for column in table.columns if computed_on_insert(column)]
    statement = table.insert()
    return statement.return_defaults(*computed) if computed else statement


def _why_no_key(mapper: Mapper[Any], table: Table, loaded: dict[str, Any]) -> str | None:
    """Why the new row might get no primary key (the flush raises its own error)."""
    for key, column_key in _keys_not_generated(mapper, table):
        if loaded.get(key) is None:
            return f"the primary key {column_key!r} has no value"
    return None


@functools.cache  # per mapper: it reads the mapping only
def _keys_not_generated(mapper: Mapper[Any], table: Table) -> tuple[tuple[str, str], ...]:
    """The primary key's columns that get no value unless the object gives one, as
    (attribute name, column key)."""
    return tuple(
        (mapper.get_property_by_column(column).key, str(column.key))
        for column in table.primary_key.columns
        if column.default is None
        and column.server_default is None
        and column is not table.autoincrement_column
    )


def why_session_watched(session: Session) -> str | None:
    """Why an own session's one INSERT must go through the session: something listens to
    sessions (their begin, commit, close: a replica set's tracking of writes among them);
    ``None`` when nothing does, and a connection of its own gives the same.

    Example:
        >>> from sqlalchemy import event
        >>> why_session_watched(Session()) is None
        True
        >>> session = Session()
        >>> event.listen(session, "after_commit", lambda session: None)
        >>> why_session_watched(session)
        "a session 'after_commit' listener sees the session's life"
    """
    hook = first_listened(session, _ALL_SESSION_EVENTS)
    if hook is not None:
        return f"a session {hook!r} listener sees the session's life"
    return None


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
    if first_listened(session, ("do_orm_execute",)):
        return "a 'do_orm_execute' listener may change the statement or its rows"
    if session.autoflush and (session.new or session.dirty or session.deleted):
        return "autoflush: the session flushes its changes before it reads"
    return None
