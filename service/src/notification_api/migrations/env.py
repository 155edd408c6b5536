"""Alembic environment: runs on the connection the caller put in ``config.attributes``."""

from __future__ import annotations

from alembic import context

from notification_api.models import ServiceBase

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError(
        "Run the migrations through notification_api.migrate (python -m notification_api "
        "migrate), which hands Alembic the database connection."
    )
context.configure(
    connection=connection,
    target_metadata=ServiceBase.metadata,
    render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters by copying tables
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
