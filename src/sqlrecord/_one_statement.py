"""Proof that a write is one statement, so that an own session may run it in autocommit.

A single INSERT, UPDATE or DELETE is atomic by itself on every database, so a
session of sqlrecord's own that sends one needs no BEGIN and COMMIT around it: on
PostgreSQL that is three round trips become one, on SQLite two hand-offs to the
driver's thread become one. Two kinds of write are proved here: a flush of one
object (:func:`why_not_one_statement`) and an UPDATE or DELETE by query
(:func:`why_not_one_write_statement`). Anything that could make either send a
second statement (another object with changes, a changed relationship, a
joined-table subclass, a hook of the user's that might write, a value the
database computes and the call reads back, keys selected before the write)
keeps the transaction, since a failure in the second statement must undo the
first.
"""

from __future__ import annotations

import functools
from typing import Any

from sqlalchemy import Column, Delete, Update, inspect
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import UnboundExecutionError
from sqlalchemy.orm import InstanceState, Mapper, RelationshipDirection, Session
from sqlalchemy.sql import ClauseElement, Executable

from ._internals import first_listened, listener_count

__all__ = [
    "dialect_of",
    "why_not_alone",
    "why_not_one_statement",
    "why_not_one_write_statement",
]

# Hooks that run inside a flush or a transaction and may send statements of their own.
_MAPPER_HOOKS = (
    "before_insert",
    "after_insert",
    "before_update",
    "after_update",
    "before_delete",
    "after_delete",
)
_SESSION_HOOKS = (
    "before_flush",
    "after_flush",
    "after_flush_postexec",
    "after_begin",
    "before_commit",
)
# And around an ORM statement: before it is sent, and after an UPDATE or DELETE by
# query (SQLAlchemy's legacy hooks, still fired). The mapper hooks above do not run
# for a statement: it loads no objects.
_STATEMENT_HOOKS = (*_SESSION_HOOKS, "do_orm_execute", "after_bulk_update", "after_bulk_delete")


def _why_not_single_table(mapper: Mapper[Any]) -> str | None:
    if len(mapper.tables) != 1:
        return "joined-table inheritance: a row in each table"
    hook = first_listened(mapper, _MAPPER_HOOKS)
    if hook is not None:
        return f"a {hook!r} listener may write"
    # Fires when a flush reads back server-set values.
    if listener_count(mapper.class_manager, "refresh_flush"):
        return "a 'refresh_flush' listener may write"
    return None


def why_not_alone(model: type[Any]) -> str | None:
    """Why deleting a ``model`` row could touch another row; ``None`` when it cannot.

    Only many-to-one relationships without a delete cascade qualify: deleting
    the parent of a one-to-many or many-to-many relationship loads the children
    and updates or deletes them (or the association rows) too.

    Example:
        >>> why_not_alone(Memo) is None
        True
    """
    mapper: Mapper[Any] = inspect(model)
    reason = _why_not_single_table(mapper)
    if reason is not None:
        return reason
    for relation in mapper.relationships:
        if relation.viewonly:
            continue
        if relation.direction is not RelationshipDirection.MANYTOONE:
            kind = relation.direction.name.lower().replace("to", "-to-")
            return (
                f"relationship {relation.key!r} is {kind}: deleting loads and updates the children"
            )
        if "delete" in relation.cascade:
            return f"relationship {relation.key!r} cascades the delete"
    return None


def why_not_one_statement(session: Session, obj: Any) -> str | None:
    """Why flushing ``session`` now might send more than one statement, or write more
    than ``obj``; ``None`` when it is provably one statement writing ``obj`` only.

    Call it after ``obj`` has been added (or marked deleted) and before any
    statement of the session has run.

    Example:
        >>> session = Session()
        >>> session.add(memo := Memo(text="hi"))
        >>> why_not_one_statement(session, memo) is None
        True
        >>> session.add(Memo(text="another"))
        >>> why_not_one_statement(session, memo)
        'the flush writes another object too'
    """
    hook = first_listened(session, _SESSION_HOOKS)
    if hook is not None:
        return f"a session {hook!r} listener may write"
    for pending in (session.new, session.dirty, session.deleted):
        if any(each is not obj for each in pending):
            return "the flush writes another object too"
    state = inspect(obj)
    reason = _why_more_rows(state)
    if reason is not None or obj in session.deleted:  # a DELETE reads nothing back
        return reason
    return _why_read_back(state, dialect_of(session, state))


def _why_more_rows(state: InstanceState[Any]) -> str | None:
    mapper = state.mapper
    reason = _why_not_single_table(mapper)
    if reason is not None:
        return reason
    # A changed relationship becomes a statement on another row (a child's
    # foreign key, an association row) even when that row has no changes itself;
    # so does a primary-key change the ORM carries to the children itself.
    changed = state.committed_state
    for key in changed:
        value = state.dict.get(key)
        if isinstance(value, ClauseElement) or hasattr(value, "__clause_element__"):
            return f"{key!r} is computed by the database: it is read back after the write"
    for key, relation in mapper.relationships.items():
        if relation.viewonly:
            continue
        if key in changed:
            return f"relationship {key!r} changed: the flush may write another row"
        if not relation.passive_updates:
            return f"relationship {key!r} has passive_updates=False: keys carried by the ORM"
    return None


def dialect_of(session: Session, state: InstanceState[Any]) -> Dialect | None:
    """The dialect ``state``'s row is written with (``None``: the session has no bind).

    Example:
        >>> dialect_of(Session(), inspect(Memo(text="hi"))) is None
        True
    """
    try:
        return session.get_bind(state.mapper).dialect
    except UnboundExecutionError:
        return None


def _why_read_back(state: InstanceState[Any], dialect: Dialect | None) -> str | None:
    """Why the ORM would follow this INSERT or UPDATE with a SELECT of the values the
    database computed: ``eager_defaults=True``, or a version counter the database keeps,
    where the dialect cannot return them from the statement itself (MySQL has no
    RETURNING; MariaDB none for UPDATE). In autocommit that SELECT could read another
    writer's values, so the write keeps its transaction."""
    if dialect is None:
        return None
    mapper = state.mapper
    inserting = state.key is None
    returns = dialect.insert_returning if inserting else dialect.update_returning
    if returns and all(table.implicit_returning for table in mapper.tables):
        return None
    computed = _computed_by_database_keys(mapper, inserting)
    if computed and mapper.base_mapper.eager_defaults is True:
        statement = "INSERT" if inserting else "UPDATE"
        return (
            f"eager_defaults=True and {dialect.name} cannot return {computed[0]!r} from the "
            f"{statement}: a second statement reads it back"
        )
    if mapper.version_id_col is not None and mapper.version_id_generator is False:
        return f"the database keeps the version counter and {dialect.name} cannot return it"
    return None


@functools.cache  # per mapper: it reads the mapping only
def _computed_by_database_keys(mapper: Mapper[Any], inserting: bool) -> tuple[str, ...]:
    return tuple(
        key for key, column in mapper.columns.items() if _computed_by_database(column, inserting)
    )


def _computed_by_database(column: Any, inserting: bool) -> bool:
    """Whether the database gives ``column`` its value on this INSERT (or UPDATE)."""
    if not isinstance(column, Column):
        return False
    default = column.default if inserting else column.onupdate
    server = column.server_default if inserting else column.server_onupdate
    if server is not None:
        return True
    return default is not None and bool(getattr(default, "is_clause_element", False))


def why_not_one_write_statement(
    session: Session, model: type[Any], statement: Executable
) -> str | None:
    """Why executing ``statement`` (an UPDATE or DELETE by query of ``model``) in
    ``session`` might send more than that one statement; ``None`` when it is provably
    the one statement alone.

    What the statement's WHERE holds does not matter: a relationship's EXISTS, a
    subquery choosing a page of keys, an annotation's aggregate are all inside it.

    Example:
        >>> from sqlalchemy import delete, update
        >>> quiet = {"synchronize_session": False}
        >>> why_not_one_write_statement(Session(), Memo, update(Memo).values(text="hi")
        ...                             .execution_options(**quiet)) is None
        True
        >>> why_not_one_write_statement(Session(), Memo, delete(Memo))
        "synchronize_session='auto': the matched keys may be selected first"
    """
    hook = first_listened(session, _STATEMENT_HOOKS)
    if hook is not None:
        return f"a session {hook!r} listener may write"
    if session.new or session.dirty or session.deleted:
        return "the session has changes: they are flushed first"
    if not isinstance(statement, Update | Delete):
        return "not an UPDATE or DELETE"
    # The ORM keeps the session's objects in step: "fetch" (and "auto", which may
    # fall back to it) selects the matched keys first where the database cannot
    # return them from the write itself (MariaDB's UPDATE).
    synchronize = statement.get_execution_options().get("synchronize_session", "auto")
    if synchronize is not False:
        return f"synchronize_session={synchronize!r}: the matched keys may be selected first"
    if len(inspect(model).tables) != 1:
        return "joined-table inheritance: the write may reach each of the model's tables"
    return None
