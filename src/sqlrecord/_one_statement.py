"""Proof that a flush is one statement, so that an own session may run it in autocommit.

A single INSERT, UPDATE or DELETE is atomic by itself on every database, so a
session of sqlrecord's own that writes one row needs no BEGIN and COMMIT around
it: on PostgreSQL that is three round trips become one, on SQLite two hand-offs
to the driver's thread become one. Anything that could make the flush send a
second statement (another object with changes, a changed relationship, a
joined-table subclass, a hook of the user's that might write) keeps the
transaction, since a failure in the second statement must undo the first.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import inspect
from sqlalchemy.orm import InstanceState, Mapper, RelationshipDirection, Session

from ._internals import listener_count

__all__ = ["deletes_alone", "is_one_statement"]

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


def _single_table_without_hooks(mapper: Mapper[Any]) -> bool:
    # A joined-table subclass writes a row per table.
    if len(mapper.tables) != 1:
        return False
    if any(listener_count(mapper, hook) for hook in _MAPPER_HOOKS):
        return False
    # Fires when a flush reads back server-set values.
    return not listener_count(mapper.class_manager, "refresh_flush")


def deletes_alone(model: type[Any]) -> bool:
    """Whether deleting a ``model`` row can touch no other row.

    Only many-to-one relationships without a delete cascade qualify: deleting
    the parent of a one-to-many or many-to-many relationship loads the children
    and updates or deletes them (or the association rows) too.
    """
    mapper: Mapper[Any] = inspect(model)
    if not _single_table_without_hooks(mapper):
        return False
    return all(
        relation.viewonly
        or (
            relation.direction is RelationshipDirection.MANYTOONE
            and "delete" not in relation.cascade
        )
        for relation in mapper.relationships
    )


def is_one_statement(session: Session, obj: Any) -> bool:
    """Whether flushing ``session`` now sends one statement, and it writes ``obj`` only.

    Call it after ``obj`` has been added (or marked deleted) and before any
    statement of the session has run.
    """
    if _hooked(session):
        return False
    for pending in (session.new, session.dirty, session.deleted):
        if any(each is not obj for each in pending):
            return False
    return _writes_one_row(inspect(obj))


def _hooked(session: Session) -> bool:
    return any(listener_count(session, hook) for hook in _SESSION_HOOKS)


def _writes_one_row(state: InstanceState[Any]) -> bool:
    mapper = state.mapper
    if not _single_table_without_hooks(mapper):
        return False
    # A changed relationship becomes a statement on another row (a child's
    # foreign key, an association row) even when that row has no changes itself;
    # so does a primary-key change the ORM carries to the children itself.
    changed = state.committed_state
    for key, relation in mapper.relationships.items():
        if relation.viewonly:
            continue
        if key in changed or not relation.passive_updates:
            return False
    return True
