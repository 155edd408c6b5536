"""The one place that decides how a model call reaches the database (with
``_plan_rows.py``, its part for an object's row written by Core, and the rules both
share in ``_plan_rules.py``).

Every call sqlrecord makes is the ORM's own work (``session.get``, ``add`` and
``flush``, ``execute``); what varies is the *route*, the *transaction* around it
and whether a *SAVEPOINT* guards it. This module chooses all three and says
why, from facts about the call that need no database: which session serves it,
whether the database allows shortcuts, and what the session holds. The scope
(``_scope.py``) carries the plan out; ``docs/architecture.md`` has the table.

The rule, in short: a served session (the caller's) is used as it is, and a
write in it takes a SAVEPOINT so that it stands or falls alone. An own session
(sqlrecord's, for one call) runs a read in autocommit, and a write in autocommit
only when it is provably one statement (a flush of one object, an UPDATE or
DELETE by query); anything else gets BEGIN and COMMIT. A shortcut past the ORM is
taken only where nothing could see the difference: an identity-map hit for ``get``,
a Core INSERT for a ``bulk_create`` of a model nothing watches and for a new object's
``save``, a Core UPDATE or DELETE by key for a loaded object's ``save`` or ``delete`` in
an own session (``_plan_rows.py``), a Core read of columns.

Set the logger ``sqlrecord.plan`` to DEBUG to see each call's plan.

Example:
    >>> plan = plan_read("count", User, served=False, unit=UnitFacts(True, True, False))
    >>> plan.route.value, plan.transaction.value, plan.savepoint.value
    ('ORM statement', 'autocommit', 'none')
"""

from __future__ import annotations

import functools
import logging
from typing import Any

from sqlalchemy import Select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session
from sqlalchemy.sql import Executable

from ._one_statement import (
    why_not_alone,
    why_not_one_statement,
    why_not_one_write_statement,
)
from ._plan_rules import (
    FAST_PATHS_OFF,
    MANY_STATEMENTS,
    ONE_WRITE_STATEMENT,
    SERVED,
    STREAMING,
    own_statement,
    own_write,
    served_write,
)
from ._plan_types import Plan, Route, Savepoint, Transaction
from ._unit_facts import UnitFacts
from ._unwatched import TableRows, why_orm_read, why_session_watched, why_watched
from ._unwatched_load import why_load_differs, why_read_differs

__all__ = [
    "Plan",
    "Route",
    "Savepoint",
    "Transaction",
    "UnitFacts",
    "log_plan",
    "plan_bulk_insert",
    "plan_column_read",
    "plan_delete_begin",
    "plan_flush",
    "plan_load",
    "plan_pending_write",
    "plan_query_write",
    "plan_read",
    "plan_statement_write",
]

logger = logging.getLogger("sqlrecord.plan")


def plan_read(
    operation: str, model: type[Any], *, served: bool, unit: UnitFacts, cursor: bool = False
) -> Plan:
    """A read: the caller's session as it is, else an own one in autocommit where free.

    Example:
        >>> print(plan_read("all", User, served=False, unit=UnitFacts(True, True, False),
        ...                 cursor=True))
        User.all: ORM statement, own transaction, no SAVEPOINT (a server-side ... transaction)
    """
    return _read(operation, model.__name__, served, unit, cursor)


@functools.cache  # a plan that depends on its arguments only is made once: reads run often
def _read(operation: str, name: str, served: bool, unit: UnitFacts, cursor: bool) -> Plan:
    if served:
        return Plan(
            operation, name, Route.ORM_STATEMENT, Transaction.SERVED, Savepoint.NONE, SERVED
        )
    if cursor:
        return Plan(
            operation, name, Route.ORM_STATEMENT, Transaction.OWN, Savepoint.NONE, STREAMING
        )
    transaction, why = own_statement(unit)
    return Plan(operation, name, Route.ORM_STATEMENT, transaction, Savepoint.NONE, why)


def plan_load(
    read: Plan,
    *,
    unit: UnitFacts,
    model: type[Any],
    session: AsyncSession,
    held: bool = False,
    key: tuple[Any, ...] | None = None,
    statement: Select[Any] | None = None,
) -> Plan:
    """A read of ``model`` objects: ``get`` by one ``key``, or a query's ``statement``.
    The identity map answers a ``get`` when the session ``held`` the object (not expired)
    and the database allows shortcuts. In an own ``session`` in autocommit, the rows read
    on a connection of their own build the objects where nothing could tell that from
    the session (nothing listens to sessions, and ``_unwatched_load.why_load_differs``;
    else the read as planned, with what it found). Else the read as planned.

    Example:
        >>> unit = UnitFacts(True, True, False)
        >>> session = db._open_session(autocommit=True)
        >>> read = plan_read("get", User, served=True, unit=unit)
        >>> plan_load(read, unit=unit, model=User, session=session, held=True, key=(7,)).route
        <Route.IDENTITY_HIT: 'identity hit'>
        >>> read = plan_read("get", User, served=False, unit=unit)
        >>> print(plan_load(read, unit=unit, model=User, session=session, key=(7,)))
        User.get: objects loaded on a connection, autocommit transaction, no SAVEPOINT (one ...)
    """
    if not unit.fast_paths:
        return read
    if held:
        return _identity_hit(read.operation, read.model, read.transaction.value)
    if read.transaction is not Transaction.AUTOCOMMIT:
        return read
    why = why_session_watched(session.sync_session) or why_load_differs(
        model, session, key=key, statement=statement
    )
    return _loaded_alone(read.operation, read.model) if why is None else read._replace(why=why)


@functools.cache  # keyed by strings: an enum hashes in Python, slowly
def _identity_hit(operation: str, model: str, transaction: str) -> Plan:
    return Plan(
        operation,
        model,
        Route.IDENTITY_HIT,
        Transaction(transaction),
        Savepoint.NONE,
        "the session holds the object: session.get answers without SQL",
    )


@functools.cache
def _loaded_alone(operation: str, model: str) -> Plan:
    return Plan(
        operation,
        model,
        Route.CONNECTION_LOAD,
        Transaction.AUTOCOMMIT,
        Savepoint.NONE,
        "one SELECT of the objects, in an own session nothing listens to or loads otherwise",
    )


def plan_column_read(
    read: Plan, session: AsyncSession, *, unit: UnitFacts, model: type[Any], statement: Executable
) -> Plan:
    """A read of columns (``values``, ``count``...): the session's connection runs it,
    which skips the ORM's own result rows, unless the ORM's ``execute`` could give
    other rows (``_unwatched.why_orm_read``), which it then keeps. In an own session in
    autocommit, a connection of its own runs it where nothing could tell
    (``Route.CONNECTION_READ``: nothing listens to sessions, and
    ``_unwatched_load.why_read_differs``; else the session's connection, with what they
    found).

    Example:
        >>> from sqlalchemy import func, select
        >>> unit, count = UnitFacts(True, True, False), select(func.count())
        >>> read = plan_read("count", User, served=True, unit=unit)
        >>> session = db._open_session(autocommit=True)
        >>> plan_column_read(read, session, unit=unit, model=User, statement=count).route.value
        'Core read'
        >>> read = plan_read("count", User, served=False, unit=unit)
        >>> plan_column_read(read, session, unit=unit, model=User, statement=count).route.value
        'Core read on a connection'
    """
    why = FAST_PATHS_OFF if not unit.fast_paths else why_orm_read(session.sync_session)
    if why is not None:
        return read._replace(why=why)
    if read.transaction is Transaction.AUTOCOMMIT:
        alone = why_session_watched(session.sync_session) or why_read_differs(
            model, session, statement
        )
        if alone is None:
            return _read_alone(read.operation, read.model, read.why)
        return _core_read(read.operation, read.model, read.transaction.value, alone)
    return _core_read(read.operation, read.model, read.transaction.value, read.why)


@functools.cache  # keyed by strings, as _identity_hit
def _read_alone(operation: str, model: str, why: str) -> Plan:
    route = Route.CONNECTION_READ
    return Plan(operation, model, route, Transaction.AUTOCOMMIT, Savepoint.NONE, why)


@functools.cache  # keyed by strings, as _identity_hit
def _core_read(operation: str, model: str, transaction: str, why: str) -> Plan:
    return Plan(operation, model, Route.CORE_READ, Transaction(transaction), Savepoint.NONE, why)


def plan_statement_write(
    operation: str, model: type[Any], *, served: bool, unit: UnitFacts
) -> Plan:
    """A write sent as statements (an upsert, ``bulk_update``, a locked read and a
    write): BEGIN and COMMIT in an own session, a SAVEPOINT in a served one. (An
    UPDATE or DELETE by query: :func:`plan_query_write`.)

    Example:
        >>> print(plan_statement_write("update", User, served=False,
        ...                            unit=UnitFacts(True, True, False)))
        User.update: ORM statement, own transaction, no SAVEPOINT (may be more ... the rest)
    """
    return _statement_write(operation, model.__name__, served, unit)


@functools.cache
def _statement_write(operation: str, name: str, served: bool, unit: UnitFacts) -> Plan:
    if served:
        return served_write(operation, name, Route.ORM_STATEMENT, unit)
    return Plan(
        operation, name, Route.ORM_STATEMENT, Transaction.OWN, Savepoint.NONE, MANY_STATEMENTS
    )


@functools.cache
def _pending_write(operation: str, name: str) -> Plan:
    return Plan(operation, name, Route.ORM_FLUSH, Transaction.OWN, Savepoint.NONE, "not begun")


def plan_pending_write(operation: str, model: type[Any]) -> Plan:
    """An own session's write before the call says what it writes: nothing is begun, and
    :func:`plan_flush` or :func:`plan_bulk_insert` decides when it does.

    Example:
        >>> plan_pending_write("save", User).why
        'not begun'
    """
    return _pending_write(operation, model.__name__)


def plan_flush(
    operation: str,
    obj: Any,
    session: Session,
    *,
    served: bool,
    unit: UnitFacts,
    begun: str | None,
) -> Plan:
    """A flush of ``obj`` (added or marked deleted): in an own session not ``begun``
    (else: why it began) it runs in autocommit only when it is provably one
    statement writing ``obj`` alone.

    Example:
        >>> session = Session()
        >>> session.add(user := User(email="kim@example.com"))
        >>> print(plan_flush("save", user, session, served=False,
        ...                  unit=UnitFacts(True, True, False), begun=None))
        User.save: ORM flush, autocommit transaction, no SAVEPOINT (one statement ... alone)
    """
    name = type(obj).__name__
    if served:
        return served_write(operation, name, Route.ORM_FLUSH, unit)
    prove = functools.partial(why_not_one_statement, session, obj)
    transaction, why = own_write(unit, begun, prove, "one statement writing this object alone")
    return Plan(operation, name, Route.ORM_FLUSH, transaction, Savepoint.NONE, why)


def plan_query_write(
    operation: str,
    model: type[Any],
    statement: Executable,
    session: Session,
    *,
    served: bool,
    unit: UnitFacts,
    begun: str | None,
) -> Plan:
    """An UPDATE or DELETE by query (``Query.update``, ``delete``, ``hard_delete``): in
    an own session not ``begun`` (else: why it began) it runs in autocommit only
    when executing ``statement`` provably sends that one statement alone; then, when
    nothing listens to sessions, on a connection of its own (the own session not used).

    Example:
        >>> from sqlalchemy import update
        >>> statement = update(User).values(name="Kim").execution_options(
        ...     synchronize_session=False)
        >>> print(plan_query_write("update", User, statement, Session(), served=False,
        ...                        unit=UnitFacts(True, True, False), begun=None))
        User.update: statement on a connection, autocommit transaction, no SAVEPOINT (one ...)
    """
    name = model.__name__
    if served:
        return served_write(operation, name, Route.ORM_STATEMENT, unit)
    prove = functools.partial(why_not_one_write_statement, session, model, statement)
    transaction, why = own_write(unit, begun, prove, ONE_WRITE_STATEMENT)
    route = Route.ORM_STATEMENT
    if transaction is Transaction.AUTOCOMMIT and why_session_watched(session) is None:
        route = Route.CONNECTION_STATEMENT  # the own session would only begin, commit and close
    return Plan(operation, name, route, transaction, Savepoint.NONE, why)


def plan_delete_begin(model: type[Any]) -> str | None:
    """Why deleting a ``model`` row must begin its transaction before anything is read
    (it loads related rows to cascade or update them); ``None`` when it need not.

    Example:
        >>> plan_delete_begin(User)
        "relationship 'posts' is one-to-many: deleting loads and updates the children"
    """
    return why_not_alone(model)


def plan_bulk_insert(
    model: type[Any],
    session: Session,
    *,
    served: bool,
    unit: UnitFacts,
    return_objects: bool,
) -> tuple[Plan, TableRows | None]:
    """``bulk_create``: a Core INSERT of plain rows when that stores what ``add_all``
    and a flush would and no objects are wanted; else the objects through the flush.
    Returns the plan and, for the Core INSERT, the table and row converter.

    Example:
        >>> plan, rows = plan_bulk_insert(User, Session(), served=False,
        ...                               unit=UnitFacts(True, True, False), return_objects=True)
        >>> plan.route.value, plan.why, rows
        ('ORM flush', 'the objects are wanted back', None)
    """
    table_rows: TableRows | None = None
    if return_objects:
        why = "the objects are wanted back"
    elif not unit.fast_paths:
        why = FAST_PATHS_OFF
    else:
        reason, table_rows = why_watched(model, session)
        why = reason or "nothing watches the model: Core stores what the flush would"
    route = Route.ORM_FLUSH if table_rows is None else Route.CORE_INSERT
    name = model.__name__
    if served:
        plan = served_write("bulk_create", name, route, unit)
        return Plan(plan.operation, name, route, plan.transaction, plan.savepoint, why), table_rows
    return Plan("bulk_create", name, route, Transaction.OWN, Savepoint.NONE, why), table_rows


def log_plan(plan: Plan) -> Plan:
    """Tell the ``sqlrecord.plan`` logger (at DEBUG, with the plan as ``record.plan``).

    Example:
        >>> log_plan(Plan("get", "User", Route.IDENTITY_HIT, Transaction.SERVED,
        ...               Savepoint.NONE, "held")).route.value
        'identity hit'
    """
    if logger.isEnabledFor(logging.DEBUG):
        logger.debug("%s", plan, extra={"plan": plan})
    return plan
