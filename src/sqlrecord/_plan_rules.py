"""The rules the planner's routes share (``_plan.py``, ``_plan_rows.py``): the
transaction of an own session's statement and of its write, the SAVEPOINT of a write
in the caller's session, and the words each plan gives for its choice.

Example:
    >>> own_statement(UnitFacts(True, True, False))
    (<Transaction.AUTOCOMMIT: 'autocommit'>, 'one statement: a transaction by itself')
"""

from __future__ import annotations

from collections.abc import Callable

from ._plan_types import Plan, Route, Savepoint, Transaction
from ._unit_facts import UnitFacts

__all__ = [
    "FAST_PATHS_OFF",
    "MANY_STATEMENTS",
    "NO_FREE_AUTOCOMMIT",
    "ONE_WRITE_STATEMENT",
    "PINNED",
    "SAVEPOINTS_OFF",
    "SERVED",
    "SERVED_WRITE",
    "STREAMING",
    "own_statement",
    "own_write",
    "served_write",
]

# Why a shortcut was not taken: the first condition that ruled it out.
FAST_PATHS_OFF = "Database(fast_paths=False): plain session work"
NO_FREE_AUTOCOMMIT = (
    "Database(autocommit_pool=False) on MySQL/MariaDB: switching a connection to autocommit "
    "costs round trips"
)
STREAMING = "a server-side cursor (stream) needs a transaction"
SERVED = "the caller's session"
SERVED_WRITE = "the caller's session: the write stands or falls alone"
SAVEPOINTS_OFF = "db.transaction(savepoints=False): the unit stands or falls together"
MANY_STATEMENTS = "may be more than one statement: a failure must undo the rest"
PINNED = "sqlrecord.testing: the session joins the test's transaction, in a SAVEPOINT"
ONE_WRITE_STATEMENT = "one UPDATE or DELETE statement, sent alone: a transaction by itself"


def own_statement(unit: UnitFacts) -> tuple[Transaction, str]:
    """The transaction of an own session's single statement, and why."""
    if not unit.fast_paths:
        return Transaction.OWN, FAST_PATHS_OFF
    if unit.pinned:
        return Transaction.OWN, PINNED
    if not unit.autocommit:
        return Transaction.OWN, NO_FREE_AUTOCOMMIT
    return Transaction.AUTOCOMMIT, "one statement: a transaction by itself"


def own_write(
    unit: UnitFacts, begun: str | None, why_not_alone: Callable[[], str | None], alone: str
) -> tuple[Transaction, str]:
    """The transaction of an own session's write, and why: autocommit where it is
    allowed, the session has not ``begun`` (else: why it began) and the proof
    ``why_not_alone`` finds nothing (``alone`` says what was proved)."""
    transaction, why = own_statement(unit)
    if transaction is not Transaction.AUTOCOMMIT:
        return transaction, why
    if begun is not None:
        return Transaction.OWN, begun
    reason = why_not_alone()
    if reason is not None:
        return Transaction.OWN, reason
    return Transaction.AUTOCOMMIT, alone


def served_write(operation: str, model: str, route: Route, unit: UnitFacts) -> Plan:
    """The plan of a write in the caller's session: in sqlrecord's SAVEPOINT, unless the
    unit gave SAVEPOINTs up."""
    if unit.savepoints_off:
        return Plan(operation, model, route, Transaction.SERVED, Savepoint.NONE, SAVEPOINTS_OFF)
    return Plan(operation, model, route, Transaction.SERVED, Savepoint.ORM, SERVED_WRITE)
