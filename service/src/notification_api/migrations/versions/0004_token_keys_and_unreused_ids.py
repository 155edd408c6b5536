"""Token keys on users; ids never reused (SQLite tables rebuilt with AUTOINCREMENT).

``users.token_key`` binds each token to its account (see
``notification_api.tokens``): every existing account gets a random key of its
own, so tokens issued before this revision (which carry none) are refused and
their owners log in again.

SQLite gives a new row ``max(id) + 1`` unless the table was created with
``AUTOINCREMENT``, and that cannot be added by ``ALTER TABLE``: each table is
rebuilt (Alembic's batch mode: copy, drop, rename). Dropping a table that
others reference would run their ``ON DELETE CASCADE`` while foreign keys are
enforced, so ``notification_api.migrate`` runs the migrations on SQLite with
``PRAGMA foreign_keys=OFF`` and checks every reference afterwards. PostgreSQL
sequences and InnoDB's counter (kept across restarts since MariaDB 10.2.4)
never hand out an id twice: there only the column is added.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

from __future__ import annotations

import secrets

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

# Children after parents: the order of the CREATE TABLEs (request_nonces from 0002_signing).
TABLES = ("users", "api_keys", "api_whitelists", "notifications", "request_nonces")


def _rebuild_sqlite_tables(*, autoincrement: bool) -> None:
    for name in TABLES:
        with op.batch_alter_table(
            name, recreate="always", table_kwargs={"sqlite_autoincrement": autoincrement}
        ) as batch:
            if name == "users" and autoincrement:
                batch.alter_column("token_key", existing_type=sa.String(64), nullable=False)
            elif name == "users":
                batch.drop_column("token_key")


def upgrade() -> None:
    bind = op.get_bind()
    op.add_column("users", sa.Column("token_key", sa.String(length=64), nullable=True))
    users = sa.table("users", sa.column("id", sa.Integer()), sa.column("token_key", sa.String()))
    for (user_id,) in bind.execute(sa.select(users.c.id)).all():
        bind.execute(
            users.update().where(users.c.id == user_id).values(token_key=secrets.token_urlsafe(32))
        )
    if bind.dialect.name == "sqlite":
        _rebuild_sqlite_tables(autoincrement=True)
    else:
        op.alter_column("users", "token_key", existing_type=sa.String(length=64), nullable=False)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _rebuild_sqlite_tables(autoincrement=False)
    else:
        op.drop_column("users", "token_key")
