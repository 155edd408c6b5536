"""Alembic, configured in code: the migrations live in ``notification_api/migrations``.

``upgrade_to_head(database)`` runs inside the app's event loop on one of the
engine's connections (the Alembic cookbook's "sharing a connection" recipe),
so start-up needs no second engine and no second event loop.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Connection

from sqlrecord import Database

__all__ = ["alembic_config", "downgrade_to_base", "upgrade_to_head"]

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
    async with database.engine.begin() as connection:
        await connection.run_sync(lambda sync: command.upgrade(alembic_config(sync), "head"))


async def downgrade_to_base(database: Database) -> None:
    """Revert every migration: drops the service's tables (tests use it for a clean start)."""
    async with database.engine.begin() as connection:
        await connection.run_sync(lambda sync: command.downgrade(alembic_config(sync), "base"))
