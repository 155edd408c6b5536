"""MySQL/MariaDB: a COMMIT or ROLLBACK only where a transaction may be open.

aiomysql and asyncmy send both whatever the connection's state, and SQLAlchemy's pool
rolls back every connection it takes back, also one whose transaction was just
committed. Two cases need neither, and each costs a round trip:

- the connection is in autocommit and outside a BEGIN (a statement there committed
  itself): sqlrecord's pool for one-statement calls (``_begin.autocommit_bind``). The
  driver keeps that state from the server's last answer, so asking costs nothing;
- nothing has run on the connection since its last COMMIT or ROLLBACK: the pool's
  ROLLBACK after a committed transaction.

Everything else is sent. In particular a connection outside autocommit that has run a
statement is always ended: MariaDB does not report a transaction that has only read, yet
keeps its snapshot until the ROLLBACK. (SQLAlchemy's ``skip_autocommit_rollback`` would
skip a ROLLBACK even inside an explicit BEGIN, and has no counterpart for COMMIT.)
``tests/test_drivers.py`` counts the round trips and checks the snapshot.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, event

from ._own_listeners import mark_own

__all__ = ["end_open_transactions_only"]

# In a pooled connection's ``info``: nothing has run on it since its last COMMIT or
# ROLLBACK. Set after either succeeds; cleared when a transaction begins on it, which
# SQLAlchemy does before any statement.
_ENDED = "sqlrecord_transaction_ended"


def end_open_transactions_only(engine: Engine) -> None:
    """Make ``engine`` (MySQL/MariaDB) send COMMIT and ROLLBACK only where a transaction
    may be open (see the module's docstring)."""
    dialect = engine.dialect
    commit, rollback = dialect.do_commit, dialect.do_rollback

    def do_commit(dbapi_connection: Any) -> None:
        if _may_be_open(dbapi_connection):
            commit(dbapi_connection)
        _info(dbapi_connection)[_ENDED] = True

    def do_rollback(dbapi_connection: Any) -> None:
        if _may_be_open(dbapi_connection):
            rollback(dbapi_connection)
        _info(dbapi_connection)[_ENDED] = True

    dialect.do_commit = do_commit  # type: ignore[method-assign]
    dialect.do_rollback = do_rollback  # type: ignore[method-assign]

    @event.listens_for(engine, "begin")
    def _begun(connection: Any) -> None:
        _info(connection.connection).pop(_ENDED, None)

    mark_own(_begun)


def _info(dbapi_connection: Any) -> dict[str, Any]:
    """The pooled connection's ``info`` (a scratch dict where there is none: the
    connection SQLAlchemy sets the dialect up on, before it is pooled, has none)."""
    try:
        info = dbapi_connection.info
    except (AttributeError, NotImplementedError):
        return {}
    return info if isinstance(info, dict) else {}


def _may_be_open(dbapi_connection: Any) -> bool:
    if _info(dbapi_connection).get(_ENDED):
        return False
    driver = getattr(dbapi_connection, "driver_connection", None)
    if driver is None or not hasattr(driver, "get_transaction_status"):
        return True
    return not driver.get_autocommit() or bool(driver.get_transaction_status())
