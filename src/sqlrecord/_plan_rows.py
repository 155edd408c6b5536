"""The planner's routes for one object's row written by Core instead of the flush.

Part of the planner (``_plan.py`` decides every other call, and the rules both follow):
a new object's ``save`` may be a Core INSERT of its row, and a loaded object's ``save``
or ``delete`` in an own session a Core UPDATE of its changed columns or a Core DELETE,
by its key, where the flush would provably be that one statement and nothing could tell
the two apart (the proofs:
``_one_statement``, ``_unwatched``, ``_unwatched_by_key``). In autocommit, where
nothing listens to sessions, the statement goes out on a connection of its own and the
own session is not used (it would only begin, commit and close).

Example:
    >>> from sqlalchemy.orm import Session
    >>> plan_row_update("save", Memo(text="hi"), Session(), served=True,
    ...                 unit=UnitFacts(True, True, False), begun=None) is None
    True
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import inspect
from sqlalchemy.orm import InstanceState, Session

from ._one_statement import dialect_of, why_not_one_statement
from ._plan_rules import own_write, served_write
from ._plan_types import Plan, Route, Savepoint, Transaction
from ._unit_facts import UnitFacts
from ._unwatched import RowInsert, why_row_insert_differs, why_session_watched
from ._unwatched_by_key import (
    RowDelete,
    RowUpdate,
    why_row_delete_differs,
    why_row_update_differs,
)

__all__ = ["plan_row_delete", "plan_row_insert", "plan_row_update"]

_Row = TypeVar("_Row")


def plan_row_insert(
    operation: str,
    obj: Any,
    session: Session,
    *,
    served: bool,
    unit: UnitFacts,
    begun: str | None,
) -> tuple[Plan, RowInsert] | None:
    """A new object's save, before it is added: a Core INSERT of its row
    (``_row_insert.py``) when the flush would provably be that one statement and nothing
    could tell the two apart (``_unwatched.why_row_insert_differs``), in the transaction
    and SAVEPOINT ``_plan.plan_flush`` would choose; in autocommit, on a connection of its
    own when nothing listens to sessions (the own session is not used); else ``None``, and
    the flush.

    Example:
        >>> from sqlalchemy import create_engine
        >>> engine = create_engine("sqlite://")
        >>> engine.connect().close()  # the dialect learns the database at the first connection
        >>> session = Session(engine)
        >>> plan, (statement, as_row) = plan_row_insert("create", Memo(text="hi"), session,
        ...     served=False, unit=UnitFacts(True, True, False), begun=None)
        >>> print(plan)
        Memo.create: Core INSERT on a connection, autocommit transaction, no SAVEPOINT (one ...)
    """
    if not unit.fast_paths or why_not_one_statement(session, obj) is not None:
        return None
    dialect = dialect_of(session, inspect(obj))
    _, row_insert = why_row_insert_differs(obj, session, dialect)
    if row_insert is None:
        return None
    name = type(obj).__name__
    if served:
        return served_write(operation, name, Route.CORE_INSERT, unit), row_insert
    transaction, why = own_write(unit, begun, lambda: None, "one statement: its object's row")
    route = Route.CORE_INSERT
    if transaction is Transaction.AUTOCOMMIT and why_session_watched(session) is None:
        route = Route.CONNECTION_INSERT  # the own session would only begin, commit and close
    return Plan(operation, name, route, transaction, Savepoint.NONE, why), row_insert


def plan_row_update(
    operation: str,
    obj: Any,
    session: Session,
    *,
    served: bool,
    unit: UnitFacts,
    begun: str | None,
) -> tuple[Plan, RowUpdate] | None:
    """A loaded, detached object's save in an own session, before it is added: a Core
    UPDATE of its changed columns by its key (``_row_by_key.py``) on a connection of its
    own, when the flush would provably be that one statement in autocommit, nothing
    listens to sessions and nothing could tell the two apart
    (``_unwatched_by_key.why_row_update_differs``); else ``None``, and the flush (also
    when nothing changed: the flush sends nothing, but takes a connection and ends its
    transaction, which an engine's listeners see).

    Example:
        >>> from sqlalchemy import create_engine
        >>> from sqlalchemy.orm import make_transient_to_detached
        >>> label = Label(id=7, name="hi")
        >>> make_transient_to_detached(label)
        >>> label.name = "hello"
        >>> plan, (statement, parameters) = plan_row_update("save", label,
        ...     Session(create_engine("sqlite://")), served=False,
        ...     unit=UnitFacts(True, True, False), begun=None)
        >>> print(plan)
        Label.save: Core UPDATE on a connection, autocommit transaction, no SAVEPOINT (one ...)
    """
    return _by_key(
        operation,
        obj,
        session,
        served,
        unit,
        begun,
        Route.CONNECTION_UPDATE,
        why_row_update_differs,
    )


def plan_row_delete(
    operation: str,
    obj: Any,
    session: Session,
    *,
    served: bool,
    unit: UnitFacts,
    begun: str | None,
) -> tuple[Plan, RowDelete] | None:
    """A loaded, detached object's delete in an own session, before it is added: a Core
    DELETE of its row by its key on a connection of its own, on the conditions of
    :func:`plan_row_update` (``_unwatched_by_key.why_row_delete_differs``); else ``None``.

    Example:
        >>> from sqlalchemy import create_engine
        >>> print(plan_row_delete("delete", User(email="kim@example.com"),
        ...     Session(create_engine("sqlite://")), served=False,
        ...     unit=UnitFacts(True, True, False), begun=None))
        None
    """
    return _by_key(
        operation,
        obj,
        session,
        served,
        unit,
        begun,
        Route.CONNECTION_DELETE,
        why_row_delete_differs,
    )


def _by_key(
    operation: str,
    obj: Any,
    session: Session,
    served: bool,
    unit: UnitFacts,
    begun: str | None,
    route: Route,
    prove: Callable[[Any], tuple[str | None, _Row | None]],
) -> tuple[Plan, _Row] | None:
    state: InstanceState[Any] = inspect(obj)
    if served or not unit.fast_paths or state.key is None or state.session_id is not None:
        return None
    if why_session_watched(session) is not None or why_not_one_statement(session, obj):
        return None
    transaction, why = own_write(unit, begun, lambda: None, "one statement: its object's row")
    if transaction is not Transaction.AUTOCOMMIT:
        return None
    reason, row = prove(obj)
    if reason is not None or row is None:
        return None
    return Plan(operation, type(obj).__name__, route, transaction, Savepoint.NONE, why), row
