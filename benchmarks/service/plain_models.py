"""The hand-written app's mapping of the Notification API's tables, in plain SQLAlchemy 2.

Only the columns and defaults the two benchmarked endpoints touch matter, but every
column is mapped so that a row reads back whole, as the service's does. The tables
themselves are made by the service's migration (:func:`.databases.reset_schema`);
nothing here creates or alters them.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import BigInteger, DateTime, FetchedValue, ForeignKey, String, Text
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

__all__ = ["UTC", "ApiKey", "ApiWhitelist", "Base", "Notification", "RequestNonce", "User"]


class UTC(TypeDecorator[dt.datetime]):
    """Naive UTC in the database, aware UTC in Python: the JSON then says ``+00:00``.

    What any app on these tables needs; the service's ``UTCDateTime`` does the same.
    """

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> Any:
        if value is not None and value.tzinfo is not None:
            value = value.astimezone(dt.UTC).replace(tzinfo=None)
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if isinstance(value, str):
            value = dt.datetime.fromisoformat(value)
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value


class Base(DeclarativeBase):
    """The hand-written app's declarative base."""


class _Row(Base):
    """The id and the two server-set timestamps every table has."""

    __abstract__ = True

    id: Mapped[int] = mapped_column(primary_key=True)
    # Set by the database (server defaults of the migration): fetched by RETURNING.
    created_at: Mapped[dt.datetime] = mapped_column(UTC(), server_default=FetchedValue())
    updated_at: Mapped[dt.datetime] = mapped_column(UTC(), server_default=FetchedValue())


class User(_Row):
    """An account."""

    __tablename__ = "users"

    status: Mapped[str] = mapped_column(String(20), default="active")
    email: Mapped[str | None] = mapped_column(String(255))
    pw: Mapped[str | None] = mapped_column(String(255))
    name: Mapped[str | None] = mapped_column(String(255))
    phone_number: Mapped[str | None] = mapped_column(String(20))
    profile_img: Mapped[str | None] = mapped_column(String(1000))
    sns_type: Mapped[str] = mapped_column(String(20), default="email")
    marketing_agree: Mapped[bool] = mapped_column(default=False)
    token_key: Mapped[str] = mapped_column(String(64))


class ApiKey(_Row):
    """A key pair of a user."""

    __tablename__ = "api_keys"

    access_key: Mapped[str] = mapped_column(String(64))
    secret_key: Mapped[str] = mapped_column(String(255))  # fernet:<token>
    user_memo: Mapped[str | None] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(10), default="active")
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))


class ApiWhitelist(_Row):
    """An address allowed to use a key."""

    __tablename__ = "api_whitelists"

    ip_addr: Mapped[str] = mapped_column(String(64))
    api_key_id: Mapped[int] = mapped_column(ForeignKey("api_keys.id"))


class RequestNonce(_Row):
    """A nonce a signed request spent, kept until its timestamp leaves the window."""

    __tablename__ = "request_nonces"

    api_key_id: Mapped[int] = mapped_column(ForeignKey("api_keys.id"))
    nonce: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[int] = mapped_column(BigInteger)


class Notification(_Row):
    """A message to deliver."""

    __tablename__ = "notifications"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    api_key_id: Mapped[int] = mapped_column(ForeignKey("api_keys.id"))
    channel: Mapped[str] = mapped_column(String(10))
    recipient: Mapped[str] = mapped_column(String(1000))
    subject: Mapped[str] = mapped_column(String(255))
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(10), default="queued")
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(String(1000))
    next_attempt_at: Mapped[dt.datetime] = mapped_column(UTC(), server_default=FetchedValue())
    locked_until: Mapped[dt.datetime | None] = mapped_column(UTC())
    sent_at: Mapped[dt.datetime | None] = mapped_column(UTC())
