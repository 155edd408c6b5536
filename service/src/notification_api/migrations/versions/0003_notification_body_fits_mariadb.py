"""notifications.body holds the API's largest body on MySQL/MariaDB: MEDIUMTEXT.

The API accepts bodies of 65,000 characters; in utf8mb4 that is up to 260,000
bytes, and MySQL/MariaDB's ``TEXT`` holds 65,535 bytes (it refused 65,000
emoji). ``MEDIUMTEXT`` holds 16 MiB. PostgreSQL's and SQLite's ``TEXT`` have
no such limit: nothing changes there.

The downgrade goes back to ``TEXT``; in strict mode it fails if a stored body
is longer than ``TEXT`` holds (nothing is cut silently).

Revision ID: 0003
Revises: 0002_signing
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0003"
down_revision = "0002_signing"
branch_labels = None
depends_on = None


def _on_mysql() -> bool:
    return op.get_bind().dialect.name in ("mysql", "mariadb")


def upgrade() -> None:
    if _on_mysql():
        op.alter_column(
            "notifications",
            "body",
            type_=mysql.MEDIUMTEXT(),
            existing_type=sa.Text(),
            existing_nullable=False,
        )


def downgrade() -> None:
    if _on_mysql():
        op.alter_column(
            "notifications",
            "body",
            type_=sa.Text(),
            existing_type=mysql.MEDIUMTEXT(),
            existing_nullable=False,
        )
