"""The pytest fixtures of ``sqlrecord.testing`` (they need pytest and pytest-asyncio)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from sqlalchemy.ext.asyncio import AsyncConnection

from ._database import Database
from ._registry import default_database
from .exceptions import ConfigurationError

__all__ = ["sqlrecord_database", "sqlrecord_transaction"]


@pytest.fixture
def sqlrecord_database() -> Database:
    """The Database that ``sqlrecord_transaction`` pins: the default one (the latest
    configured with ``default=True``). Override it in your ``conftest.py`` to
    return another.

    Example:
        >>> @pytest.fixture
        ... def sqlrecord_database() -> Database:
        ...     return db  # the database your app uses
    """
    database = default_database()
    if not isinstance(database, Database):
        raise ConfigurationError(
            f"The default database is {database!r}, not a sqlrecord Database: return "
            "yours from a fixture named sqlrecord_database."
        )
    return database


@pytest_asyncio.fixture
async def sqlrecord_transaction(sqlrecord_database: Database) -> AsyncIterator[AsyncConnection]:
    """The test runs in one transaction of ``sqlrecord_database``'s, rolled back at the
    end (:func:`sqlrecord.testing.rolled_back`); yields its connection.

    Example:
        >>> async def test_sign_up(sqlrecord_transaction: AsyncConnection) -> None:
        ...     await User.create(email="kim@example.com")
        ...     assert await User.count() == 1  # and nothing of it after the test
    """
    async with sqlrecord_database._pinned() as connection:
        yield connection
