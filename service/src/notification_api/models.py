"""The tables: users, their API keys, each key's IP whitelist, and notifications.

The models sit on a declarative base of their own (not sqlrecord's ``Base``)
so that their metadata holds exactly the service's tables, the ones the
Alembic migrations create. They name no database (``__database__``): they
work in the app's (:mod:`notification_api.database`).
"""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, MetaData, String, Text, UniqueConstraint
from sqlalchemy.dialects import mysql
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from sqlrecord import BaseModelMixin, UTCDateTime, utc_now

__all__ = [
    "ApiKey",
    "ApiWhitelist",
    "Model",
    "Notification",
    "NotificationStatus",
    "RequestNonce",
    "ServiceBase",
    "User",
    "new_token_key",
]

# Named constraints: Alembic can then drop and alter them on every database.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# Every table: ids are never handed out twice. SQLite without AUTOINCREMENT
# gives a new row max(id) + 1, so the id of the newest row, once deleted, went
# to the next one (a deleted account's id to the next sign-up). PostgreSQL
# sequences and InnoDB's counter (persistent since MariaDB 10.2.4) never go
# back; the option only changes SQLite's DDL.
TABLE_OPTIONS: dict[str, Any] = {"sqlite_autoincrement": True}


def new_token_key() -> str:
    """A fresh random token key: 256 bits, URL-safe text of 43 characters.

    Example:
        >>> len(new_token_key()), new_token_key() != new_token_key()
        (43, True)
    """
    return secrets.token_urlsafe(32)


class ServiceBase(DeclarativeBase):
    """The service's declarative base; its metadata is what the migrations build.

    Example:
        >>> sorted(ServiceBase.metadata.tables)
        ['api_keys', 'api_whitelists', 'notifications', 'request_nonces', 'users']
        >>> tables = ServiceBase.metadata.tables.values()
        >>> all(table.kwargs["sqlite_autoincrement"] for table in tables)
        True
    """

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Model(BaseModelMixin, ServiceBase):
    """Abstract: sqlrecord's ``id``, ``created_at`` and ``updated_at`` on the service's base.

    Example:
        >>> Model.__abstract__
        True
    """

    __abstract__ = True


class User(Model):
    """An account. ``status``, ``pw``, ``email``, ``sns_type``, ``token_key`` are never
    mass-assigned.

    ``token_key`` is a random value of this account alone, written into every
    token issued for it and compared on every authenticated request: a token
    outlives neither its account (a later account with the same id has another
    key) nor a change of the key (which revokes every token issued before).

    Example:
        >>> sorted({"pw", "token_key"}.intersection(User.protected_attribute_names))
        ['pw', 'token_key']
    """

    __tablename__ = "users"
    __table_args__ = TABLE_OPTIONS
    # Added to BaseModel's own protection of updated_at.
    __protected_attributes__ = frozenset({"status", "pw", "email", "sns_type", "token_key"})

    status: Mapped[str] = mapped_column(String(20), default="active")
    email: Mapped[str | None] = mapped_column(String(255), unique=True)
    pw: Mapped[str | None] = mapped_column(String(255))
    name: Mapped[str | None] = mapped_column(String(255))
    phone_number: Mapped[str | None] = mapped_column(String(20))
    profile_img: Mapped[str | None] = mapped_column(String(1000))
    sns_type: Mapped[str] = mapped_column(String(20), default="email")
    marketing_agree: Mapped[bool] = mapped_column(default=False)
    token_key: Mapped[str] = mapped_column(String(64), default=new_token_key)


class ApiKey(Model):
    """A key pair: ``access_key`` travels in the query string, ``secret_key`` signs.

    ``secret_key`` is stored encrypted (``fernet:...``, see
    :mod:`notification_api.secrets_at_rest`); read it through a ``SecretBox``.

    Example:
        >>> sorted(ApiKey.protected_attribute_names)
        ['access_key', 'secret_key', 'updated_at', 'user_id']
    """

    __tablename__ = "api_keys"
    __table_args__ = TABLE_OPTIONS
    __protected_attributes__ = frozenset({"access_key", "secret_key", "user_id"})

    access_key: Mapped[str] = mapped_column(String(64), unique=True)
    # A Fernet token of a 40-character secret is 140 characters, with its prefix 147.
    secret_key: Mapped[str] = mapped_column(String(255))
    user_memo: Mapped[str | None] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(10), default="active")
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)


class ApiWhitelist(Model):
    """An IP address (normalised text) allowed to use one key.

    Example:
        >>> ApiWhitelist.__table__.c.ip_addr.type.length
        64
    """

    __tablename__ = "api_whitelists"
    __table_args__ = (
        UniqueConstraint("api_key_id", "ip_addr", name="uq_api_whitelists_key_ip"),
        TABLE_OPTIONS,
    )

    ip_addr: Mapped[str] = mapped_column(String(64))
    api_key_id: Mapped[int] = mapped_column(ForeignKey("api_keys.id", ondelete="CASCADE"))


class RequestNonce(Model):
    """A nonce a signed request used, kept until its timestamp leaves the window.

    The unique constraint is the replay guard: a second request with the same
    key and nonce fails to insert, whichever of two concurrent ones commits
    first. ``expires_at`` is in epoch seconds (a plain integer compares the
    same way on every database).

    Example:
        >>> sorted(c.name for c in RequestNonce.__table__.c if not c.name.endswith("_at"))
        ['api_key_id', 'id', 'nonce']
    """

    __tablename__ = "request_nonces"
    __table_args__ = (
        UniqueConstraint("api_key_id", "nonce", name="uq_request_nonces_key_nonce"),
        Index("ix_request_nonces_expires_at", "expires_at"),
        TABLE_OPTIONS,
    )

    api_key_id: Mapped[int] = mapped_column(ForeignKey("api_keys.id", ondelete="CASCADE"))
    nonce: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[int] = mapped_column(BigInteger)


class NotificationStatus:
    """The three states a client sees.

    Example:
        >>> NotificationStatus.ALL
        ('queued', 'sent', 'failed')
    """

    QUEUED = "queued"
    SENT = "sent"
    FAILED = "failed"
    ALL = (QUEUED, SENT, FAILED)


class Notification(Model):
    """One message to deliver, and the record of trying.

    A row is *claimed* by a worker while ``locked_until`` lies in the future;
    a worker that dies mid-send leaves the lease to expire, and another worker
    takes the row again (nothing is lost on restart).

    Example:
        >>> Notification.__table__.c.status.default.arg
        'queued'
        >>> from sqlalchemy.dialects import mysql
        >>> Notification.__table__.c.body.type.compile(dialect=mysql.dialect())
        'MEDIUMTEXT'
    """

    __tablename__ = "notifications"
    __table_args__ = (
        Index("ix_notifications_due", "status", "next_attempt_at"),
        # Retention's sweep: finished rows by the time they were finished (migration 0005).
        Index("ix_notifications_finished", "status", "updated_at"),
        TABLE_OPTIONS,
    )
    __protected_attributes__ = frozenset({"status", "attempts", "api_key_id", "user_id"})

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    api_key_id: Mapped[int] = mapped_column(ForeignKey("api_keys.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(10))
    recipient: Mapped[str] = mapped_column(String(1000))
    subject: Mapped[str] = mapped_column(String(255))
    # The API takes 65,000 characters (schemas.py), up to 260,000 bytes in utf8mb4:
    # MySQL/MariaDB's TEXT holds 65,535 bytes, MEDIUMTEXT 16 MiB (migration 0002).
    body: Mapped[str] = mapped_column(Text().with_variant(mysql.MEDIUMTEXT(), "mysql", "mariadb"))
    status: Mapped[str] = mapped_column(String(10), default=NotificationStatus.QUEUED)
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(String(1000))
    next_attempt_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), server_default=utc_now())
    locked_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
