"""Signed requests v2 and secrets at rest: request_nonces, a wider api_keys.secret_key.

``request_nonces`` remembers each (key, nonce) of a signed request until its
timestamp leaves the window, so a replay fails on the unique constraint.
``api_keys.secret_key`` grows from 64 to 255 characters to hold a Fernet
token; the plain secrets already stored are encrypted by the app at start-up
(``notification_api.secrets_at_rest.encrypt_stored_secrets``), which has the
key this migration does not. The downgrade narrows the column again: decrypt
first (a 0001 service cannot read encrypted secrets anyway).

Revision ID: 0002_signing
Revises: 0001
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from sqlrecord import UTCDateTime, utc_now

revision = "0002_signing"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "request_nonces",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("api_key_id", sa.Integer(), nullable=False),
        sa.Column("nonce", sa.String(length=64), nullable=False),
        sa.Column("expires_at", sa.BigInteger(), nullable=False),
        sa.Column("created_at", UTCDateTime(), server_default=utc_now(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), server_default=utc_now(), nullable=False),
        sa.ForeignKeyConstraint(
            ["api_key_id"],
            ["api_keys.id"],
            name=op.f("fk_request_nonces_api_key_id_api_keys"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_request_nonces")),
        sa.UniqueConstraint("api_key_id", "nonce", name="uq_request_nonces_key_nonce"),
    )
    op.create_index("ix_request_nonces_expires_at", "request_nonces", ["expires_at"])
    with op.batch_alter_table("api_keys") as batch:
        batch.alter_column(
            "secret_key",
            existing_type=sa.String(length=64),
            type_=sa.String(length=255),
            existing_nullable=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("api_keys") as batch:
        batch.alter_column(
            "secret_key",
            existing_type=sa.String(length=255),
            type_=sa.String(length=64),
            existing_nullable=False,
        )
    op.drop_index("ix_request_nonces_expires_at", table_name="request_nonces")
    op.drop_table("request_nonces")
