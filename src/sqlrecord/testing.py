"""Tests that leave nothing behind: each runs in one transaction, rolled back at the end.

While :func:`rolled_back` runs, every session of the database joins one
transaction on one connection: model calls that open a session of their own,
``db.transaction()`` blocks, ``db.session``/``db.committing_session`` and every
other request session of a FastAPI app. Each joins with a SAVEPOINT, so its
commit releases the SAVEPOINT (the test sees what it wrote) and its rollback
returns to it (a failed write, or a failed request, leaves the test's earlier
work in place). At the end the transaction is rolled back: the next test starts
from the same rows. Works on SQLite, PostgreSQL and MySQL/MariaDB.

With pytest and pytest-asyncio, load this module as a plugin (in the top-level
``conftest.py``: ``pytest_plugins = ["sqlrecord.testing"]``, or ``-p
sqlrecord.testing``) and ask for the ``sqlrecord_transaction`` fixture; override
the ``sqlrecord_database`` fixture when the database to pin is not the default
one. Any other runner: ``async with rolled_back(db):`` around the test.

The limits of one connection: tasks take turns on it. A session that begins
while another task's is still open there (two requests sent at once, say) is
refused with :class:`~sqlrecord.exceptions.ConfigurationError`; one after the
other is fine. Sessions that do not come from the database (an ``AsyncSession``
of your own on ``db.engine``, ``db.engine.connect()``, ``db.create_all()``) do
not join. ``docs/testing.md`` has the whole story and a FastAPI example.

Example:
    >>> async def test_sign_up() -> None:
    ...     async with rolled_back(db):
    ...         await User.create(email="kim@example.com")
    ...         assert await User.count() == 1
    ...     assert await User.count() == 0  # rolled back
    >>> run(test_sign_up())
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.util import find_spec
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from ._database import Database

__all__ = ["rolled_back"]


@asynccontextmanager
async def rolled_back(database: Database) -> AsyncIterator[AsyncConnection]:
    """Run the block in one transaction of ``database``'s that every session joins,
    and roll it back at the end; yields its connection (for SQL of your own in it).

    Example:
        >>> from sqlalchemy import text
        >>> async def inside() -> int:
        ...     async with rolled_back(db) as connection:
        ...         async with db.transaction():
        ...             await User.create(email="kim@example.com")
        ...         rows = await connection.execute(text("SELECT count(*) FROM doc_users"))
        ...         return rows.scalar_one()
        >>> run(inside()), run(User.count())
        (1, 0)
    """
    async with database._pinned() as connection:
        yield connection


if find_spec("pytest_asyncio") is not None:  # the fixtures need it; rolled_back does not
    from ._testing_fixtures import sqlrecord_database, sqlrecord_transaction

    __all__ += ["sqlrecord_database", "sqlrecord_transaction"]


def pytest_configure(config: Any) -> None:
    """pytest's hook, run when this module is loaded as a plugin: its fixtures need
    pytest-asyncio, so say so instead of a missing fixture later."""
    if find_spec("pytest_asyncio") is None:
        raise ImportError(
            "sqlrecord.testing's fixtures run on pytest-asyncio: pip install pytest-asyncio. "
            "Without it, wrap each test in `async with rolled_back(db):` yourself."
        )
