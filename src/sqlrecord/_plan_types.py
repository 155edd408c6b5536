"""What a plan is: the route, the transaction and the SAVEPOINT of one model call.

The planner (``_plan.py``) chooses them; this module only names them.
"""

from __future__ import annotations

import enum
from typing import NamedTuple

__all__ = ["ALONE_ROUTES", "Plan", "Route", "Savepoint", "Transaction"]


class Route(enum.Enum):
    """How the work is done."""

    #: ``session.get`` answered from the identity map: no SQL at all.
    IDENTITY_HIT = "identity hit"
    #: The unit of work: ``add``/``delete`` and ``flush``.
    ORM_FLUSH = "ORM flush"
    #: ``session.execute`` of a statement (a SELECT, an UPDATE or DELETE by query, an upsert).
    ORM_STATEMENT = "ORM statement"
    #: Rows by Core's INSERT, for a model nothing watches: plain rows in one executemany
    #: (``bulk_create``), or a new object's row (its ``save`` in an own session).
    CORE_INSERT = "Core INSERT"
    #: A new object's row by Core's INSERT on a connection of the autocommit engine, the
    #: own session not used at all: nothing listens to sessions (an own session's save).
    CONNECTION_INSERT = "Core INSERT on a connection"
    #: A loaded object's changed columns by Core's UPDATE by its key on a connection of the
    #: autocommit engine, the own session not used: nothing listens to sessions.
    CONNECTION_UPDATE = "Core UPDATE on a connection"
    #: A loaded object's row by Core's DELETE by its key, likewise.
    CONNECTION_DELETE = "Core DELETE on a connection"
    #: An UPDATE or DELETE by query on a connection of the autocommit engine, the own
    #: session not used: nothing listens to sessions.
    CONNECTION_STATEMENT = "statement on a connection"
    #: A SELECT of columns run by the session's connection: Core's rows, not the ORM's.
    CORE_READ = "Core read"
    #: A SELECT of columns on a connection of the autocommit engine of its own, the own
    #: session not used: nothing listens to sessions or to the engine's statements.
    CONNECTION_READ = "Core read on a connection"
    #: Objects (by their key, or a query's): their rows by one SELECT on a connection of
    #: the autocommit engine, each built as the ORM's loading builds it, the own session
    #: not used: nothing listens to sessions or to loads.
    CONNECTION_LOAD = "objects loaded on a connection"


#: The routes on a connection of their own: an own session's, which they neither use nor open.
ALONE_ROUTES = frozenset(
    {
        Route.CONNECTION_INSERT,
        Route.CONNECTION_UPDATE,
        Route.CONNECTION_DELETE,
        Route.CONNECTION_STATEMENT,
        Route.CONNECTION_READ,
        Route.CONNECTION_LOAD,
    }
)


class Transaction(enum.Enum):
    """Which transaction the work runs in."""

    #: An own session whose one statement is a transaction by itself.
    AUTOCOMMIT = "autocommit"
    #: An own session: BEGIN (IMMEDIATE on SQLite for a write), the work, COMMIT.
    OWN = "own"
    #: The caller's session: committed by the caller (or ``auto_commit=True``).
    SERVED = "served"


class Savepoint(enum.Enum):
    """Whether the work is guarded by a SAVEPOINT of sqlrecord's."""

    NONE = "none"
    #: ``begin_nested()``; on SQLite it goes out with the next statement, in one trip.
    ORM = "ORM"


class Plan(NamedTuple):
    """A call's route, transaction and SAVEPOINT, and ``why``: the condition that chose them.

    Immutable, and cheap to make: a call makes one or two.

    Example:
        >>> str(Plan("save", "User", Route.ORM_FLUSH, Transaction.OWN, Savepoint.NONE,
        ...          "fast paths are off"))
        'User.save: ORM flush, own transaction, no SAVEPOINT (fast paths are off)'
    """

    operation: str
    model: str
    route: Route
    transaction: Transaction
    savepoint: Savepoint
    why: str

    def __str__(self) -> str:
        savepoint = "no SAVEPOINT" if self.savepoint is Savepoint.NONE else "SAVEPOINT"
        return (
            f"{self.model}.{self.operation}: {self.route.value}, "
            f"{self.transaction.value} transaction, {savepoint} ({self.why})"
        )
