"""Whether a Core UPDATE or DELETE of a loaded object's row by its key does what the flush
would.

An own session's ``save`` of an object loaded earlier (detached, with its identity key)
adds the object to the session and flushes: one UPDATE of the columns whose values
changed, by primary key, checked to have matched one row (else ``StaleDataError``);
nothing at all when no value changed. The object is then left with no history. For a
model nothing watches that UPDATE, sent by Core on a connection of its own, gives the
same row and the same object (``_row_by_key.py``). Anything that could tell the two
apart keeps the flush: a listener of the update (the session's are ruled out by the
planner, ``_unwatched.why_session_watched``), a relationship changed on the object, a
version counter, inheritance, a value the database or an ``onupdate`` computes (the
flush sets or expires it), a ``column_property`` of an expression (the flush expires
it), a changed primary key.

An own session's ``delete`` of such an object is likewise one DELETE by its key (the
flush warns when it matched no row), and leaves the object deleted and detached. For a
model without relationships (the flush may load, delete or update related rows first)
nothing else happens, and :func:`why_row_delete_differs` says so.
"""

from __future__ import annotations

import functools
from typing import Any

from sqlalchemy import Column, ColumnElement, Delete, Table, Update, and_, bindparam, inspect
from sqlalchemy.orm import InstanceState, Mapper
from sqlalchemy.sql import ClauseElement

from ._internals import listener_count, loaded_value_unchanged

__all__ = [
    "RowDelete",
    "RowUpdate",
    "delete_statement",
    "update_statement",
    "why_row_delete_differs",
    "why_row_update_differs",
]

#: The UPDATE of one row by its key, and its parameters: the changed columns' values by
#: column key, and the key's values by the names :func:`update_statement` binds them to.
RowUpdate = tuple[Update, dict[str, Any]]
#: The DELETE of one row by its key, and the key's values by the names it binds them to.
RowDelete = tuple[Delete, dict[str, Any]]

_UPDATE_EVENTS = ("before_update", "after_update", "refresh_flush")
_DELETE_EVENTS = ("before_delete", "after_delete")


def why_row_update_differs(obj: Any) -> tuple[str | None, RowUpdate | None]:
    """Why a Core UPDATE of the loaded, detached object ``obj``'s changed columns by its
    key might differ from adding it to an own session and flushing; ``None`` and the
    UPDATE with its parameters when it cannot (``None`` for both: no value changed,
    and the flush would send nothing). The planner proves the rest: that the flush
    would be one statement, and that nothing listens to the session.

    Example:
        >>> from sqlalchemy.orm import make_transient_to_detached
        >>> label = Label(id=7, name="hi")
        >>> make_transient_to_detached(label)  # as a closed own session leaves it
        >>> why_row_update_differs(label)
        (None, None)
        >>> label.name = "hello"
        >>> why, (statement, parameters) = why_row_update_differs(label)
        >>> why, parameters
        (None, {'name': 'hello', 'sqlrecord_key_0': 7})
        >>> label.id = 8
        >>> why_row_update_differs(label)[0]
        "the primary key 'id' changes: the flush locates the row by its old value"
        >>> why_row_update_differs(Memo(text="hi"))[0]  # BaseModelMixin's timestamps
        "eager_defaults: the flush loads 'created_at' if it is not loaded"
    """
    mapper: Mapper[Any] = inspect(type(obj))
    state: InstanceState[Any] = inspect(obj)
    reason = _why_not_plain_row(mapper) or _why_flush_watched(mapper, _UPDATE_EVENTS)
    if reason is not None:
        return reason, None
    table = mapper.local_table
    assert isinstance(table, Table)  # checked by _why_not_plain_row
    reason = _why_not_settled_by_the_row(mapper, table)
    if reason is not None:
        return reason, None
    changed = state.committed_state
    for relation in mapper.relationships:
        if relation.key in changed:
            return f"relationship {relation.key!r} changed: the flush writes through it", None
    parameters: dict[str, Any] = {}
    for prop in mapper.column_attrs:
        if prop.key not in changed:
            continue
        if prop.key not in state.dict:
            return f"{prop.key!r} was deleted from the object: the flush decides what that is", None
        value = state.dict[prop.key]
        if hasattr(value, "__clause_element__") or isinstance(value, ClauseElement):
            return f"{prop.key!r} is set to a SQL expression: the flush expires it", None
        # As the flush compares: a value equal to the loaded one is not written.
        if loaded_value_unchanged(state, prop.key, changed[prop.key]):
            continue
        column = prop.columns[0]
        if prop.key in _key_attributes(mapper):
            why = (
                f"the primary key {prop.key!r} changes: the flush locates the row by its old value"
            )
            return why, None
        parameters[str(column.key)] = value
    if not parameters:
        return None, None
    assert state.key is not None  # loaded: the caller's condition
    statement, key_names = update_statement(mapper)
    if not parameters.keys().isdisjoint(key_names):
        return "a column is named like the key's parameters", None
    parameters.update(zip(key_names, state.key[1], strict=True))
    return None, (statement, parameters)


def _why_not_plain_row(mapper: Mapper[Any]) -> str | None:
    # A dataclass model is fine here: an UPDATE writes what the object holds, and its
    # __init__ does not run again.
    if not isinstance(mapper.local_table, Table):
        return "the model is not mapped to a plain table"
    if mapper.inherits is not None or mapper.polymorphic_on is not None:
        return "inheritance: the flush may write a row in each table"
    if mapper.version_id_col is not None:
        return "a version counter: the flush sets it and checks it"
    return None


def _why_flush_watched(mapper: Mapper[Any], names: tuple[str, ...]) -> str | None:
    for name in names:  # refresh_flush is an instance event; the others, the mapper's
        target = mapper.class_manager if name == "refresh_flush" else mapper
        if listener_count(target, name):
            return f"a {name!r} listener watches the flush"
    return None


def why_row_delete_differs(obj: Any) -> tuple[str | None, RowDelete | None]:
    """Why a Core DELETE of the loaded, detached object ``obj``'s row by its key might
    differ from adding it to an own session, deleting it and flushing; ``None`` and the
    DELETE with its parameters when it cannot. The planner proves the rest (nothing
    listens to the session).

    Example:
        >>> from sqlalchemy.orm import make_transient_to_detached
        >>> label = Label(id=7, name="hi")
        >>> make_transient_to_detached(label)
        >>> why, (statement, parameters) = why_row_delete_differs(label)
        >>> why, parameters
        (None, {'sqlrecord_key_0': 7})
        >>> label.name = "hello"
        >>> why_row_delete_differs(label)[0]
        'the object has changes: the flush deletes it and leaves them on it'
        >>> why_row_delete_differs(User(email="kim@example.com"))[0]
        "relationship 'posts': the flush may load, delete or update related rows"
    """
    mapper: Mapper[Any] = inspect(type(obj))
    state: InstanceState[Any] = inspect(obj)
    reason = _why_not_plain_row(mapper) or _why_flush_watched(mapper, _DELETE_EVENTS)
    if reason is not None:
        return reason, None
    relation = next(iter(mapper.relationships), None)
    if relation is not None:
        why = f"relationship {relation.key!r}: the flush may load, delete or update related rows"
        return why, None
    if state.modified:
        return "the object has changes: the flush deletes it and leaves them on it", None
    assert state.key is not None  # loaded: the caller's condition
    statement, key_names = delete_statement(mapper)
    return None, (statement, dict(zip(key_names, state.key[1], strict=True)))


@functools.cache  # per mapper: it reads the mapping only, which does not change
def _key_attributes(mapper: Mapper[Any]) -> frozenset[str]:
    # By attribute name: ``column in mapper.primary_key`` would compare columns with
    # ``==``, which builds a SQL expression for each one.
    return frozenset(mapper.get_property_by_column(column).key for column in mapper.primary_key)


@functools.cache  # per mapper: it reads the mapping only, which does not change
def _why_not_settled_by_the_row(mapper: Mapper[Any], table: Table) -> str | None:
    """Why the flush of an UPDATE might change or expire an attribute besides the ones
    it writes: a ``column_property`` of an expression, an ``onupdate`` (Core's value,
    which the flush gives the object, or the database's, which it expires), eager
    defaults (the flush loads the database's values that are not loaded)."""
    for prop in mapper.column_attrs:
        if any(
            not isinstance(column, Column) or column.table is not table for column in prop.columns
        ):
            return f"{prop.key!r} is an expression or another table's: the flush expires it"
    for column in table.columns:
        if column.onupdate is not None or column.server_onupdate is not None:
            return f"{column.key!r} has an onupdate: the flush sets or expires it"
        if mapper.base_mapper.eager_defaults is True and column.server_default is not None:
            return f"eager_defaults: the flush loads {column.key!r} if it is not loaded"
    return None


@functools.cache  # one per mapper: Core's compiled cache keys it cheaply
def update_statement(mapper: Mapper[Any]) -> tuple[Update, tuple[str, ...]]:
    """The UPDATE of one row of ``mapper``'s table by its primary key (the mapper's, as
    the flush locates the row), and the names its key's values are bound to, in the
    order of the identity key; the columns it sets are the ones its parameters name, as
    with any Core UPDATE.

    Example:
        >>> statement, names = update_statement(inspect(Memo))
        >>> print(statement)  # doctest: +ELLIPSIS
        UPDATE doc_memos SET ... WHERE doc_memos.id = :sqlrecord_key_0
        >>> names
        ('sqlrecord_key_0',)
    """
    table, condition, names = _by_key(mapper)
    return table.update().where(condition), names


@functools.cache  # one per mapper
def delete_statement(mapper: Mapper[Any]) -> tuple[Delete, tuple[str, ...]]:
    """The DELETE of one row of ``mapper``'s table by its primary key, and the names its
    key's values are bound to, in the order of the identity key.

    Example:
        >>> statement, names = delete_statement(inspect(Memo))
        >>> print(statement)
        DELETE FROM doc_memos WHERE doc_memos.id = :sqlrecord_key_0
    """
    table, condition, names = _by_key(mapper)
    return table.delete().where(condition), names


def _by_key(mapper: Mapper[Any]) -> tuple[Table, ColumnElement[bool], tuple[str, ...]]:
    table = mapper.local_table
    assert isinstance(table, Table)  # a plain table: checked by the proofs
    names = tuple(f"sqlrecord_key_{number}" for number in range(len(mapper.primary_key)))
    condition = and_(
        *(column == bindparam(name) for column, name in zip(mapper.primary_key, names, strict=True))
    )
    return table, condition, names
