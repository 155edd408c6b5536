"""Alembic, configured in code: the migrations live in ``notification_api/migrations``.

``upgrade_to_head(database)`` runs inside the app's event loop on one of the
engine's connections (the Alembic cookbook's "sharing a connection" recipe),
so start-up needs no second engine and no second event loop.

On SQLite the migrations run with foreign keys off: a revision that rebuilds a
table (Alembic's batch mode copies it, drops the old one and renames the copy)
would otherwise fire the ``ON DELETE CASCADE`` of every table that references
it and empty them. Every reference is checked before the commit instead.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection

from sqlrecord import Database

__all__ = ["alembic_config", "downgrade_to_base", "upgrade_to", "upgrade_to_head"]

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic ``Config`` for the service's migrations (``connection`` is used by env.py).

    Example:
        >>> alembic_config().get_main_option("script_location").endswith("migrations")
        True
    """
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


async def upgrade_to_head(database: Database) -> None:
    """Apply every migration not yet applied (idempotent)."""
    await upgrade_to(database, "head")


async def upgrade_to(database: Database, revision: str) -> None:
    """Apply the migrations up to ``revision`` (tests upgrade a filled older schema)."""
    await _migrate(database, lambda sync: command.upgrade(alembic_config(sync), revision))


async def downgrade_to_base(database: Database) -> None:
    """Revert every migration: drops the service's tables (tests use it for a clean start)."""
    await _migrate(database, lambda sync: command.downgrade(alembic_config(sync), "base"))


async def _migrate(database: Database, run: Callable[[Connection], None]) -> None:
    async with database.engine.connect() as connection:
        if connection.dialect.name != "sqlite":
            async with connection.begin():
                await connection.run_sync(run)
            return
        # PRAGMA foreign_keys is ignored inside a transaction: sent straight to
        # the driver, before SQLAlchemy begins one.
        enforced = await _sqlite_foreign_keys(connection, enforced=False)
        try:
            async with connection.begin():
                await connection.run_sync(run)
                broken = (await connection.exec_driver_sql("PRAGMA foreign_key_check")).all()
                if broken:
                    raise RuntimeError(f"The migration left broken references: {broken[:5]}")
        finally:
            # Back to the connection's setting (sqlrecord's default turns them on).
            await _sqlite_foreign_keys(connection, enforced=enforced)


async def _sqlite_foreign_keys(connection: AsyncConnection, *, enforced: bool) -> bool:
    """Turn foreign keys on or off on the connection; whether they were on."""
    raw = await connection.get_raw_connection()
    driver = raw.driver_connection
    assert driver is not None
    before = await (await driver.execute("PRAGMA foreign_keys")).fetchone()
    await driver.execute(f"PRAGMA foreign_keys={'ON' if enforced else 'OFF'}")
    return bool(before and before[0])
