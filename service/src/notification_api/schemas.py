"""Request and response bodies (pydantic), the API's public shapes."""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Literal

from fastapi import Path
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, WithJsonSchema, field_validator

__all__ = [
    "ApiKeyCreate",
    "ApiKeyCreated",
    "ApiKeyOut",
    "ApiKeyUpdate",
    "EmailNotificationCreate",
    "ErrorOut",
    "NotificationCreate",
    "NotificationOut",
    "NotificationQueued",
    "RowId",
    "Token",
    "UserOut",
    "UserRegister",
    "UserUpdate",
    "WebhookNotificationCreate",
    "WhitelistCreate",
    "WhitelistOut",
]

# Deliberately loose: the mail server is the judge of an address; this only
# rejects what cannot be one.
# Spaces and control characters, spelled out: ``\s`` means different sets in Python
# (U+0085 is one) and in the ECMA dialect of JSON Schema (it is not), and the
# schema must mean what the route checks.
_SPACE = r"\x00-\x20\x7f-\x9f\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
_EMAIL = re.compile(rf"^[^@{_SPACE}]+@[^@{_SPACE}]+$")
# No user information (``user:pw@``) and no backslash in the authority; the
# address rules (no private, loopback ... hosts) are checked by the route, which
# knows WEBHOOK_ALLOWED_NETWORKS (netguard.check_webhook_url).
_URL = re.compile(rf"^https?://[^/@\\{_SPACE}]+(/[^{_SPACE}]*)?$")
# No NUL character anywhere that is stored: PostgreSQL's text cannot hold one and
# sqlrecord refuses it on every database, so the schema says so (a client, and a
# schema-driven test, then never sends as valid what the database refuses).
_TEXT = r"^[^\x00]*$"
# Request bodies are strict: the schema says "boolean", so 0 or "true" is refused
# rather than coerced (what is valid by the schema and what is accepted coincide).
_REQUEST = ConfigDict(strict=True)
_REQUEST_NO_EXTRA = ConfigDict(strict=True, extra="forbid")
# A recipient goes into the To header and the RCPT command: exactly one plain
# address (dot-atom local part, host name of letters, digits and hyphens), so
# that no display name, list, quoting, comment or line break can ride along.
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]"
_LABEL = r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_MAIL_RECIPIENT = re.compile(rf"^{_ATEXT}+(\.{_ATEXT}+)*@{_LABEL}(\.{_LABEL})*$")
# A header value: no control characters (CR and LF split a header; the others
# break it or are refused by the mail library) and no Unicode line separators.
_HEADER_TEXT = r"^[^\x00-\x1f\x7f-\x9f\u2028\u2029]*$"


# A row id in a path: the ids are 32-bit INTEGER columns. A larger number would
# reach the driver and fail there (an overflow, not a "not found"), so it is
# refused as invalid input first.
RowId = Annotated[int, Path(ge=1, le=2**31 - 1)]


def _not_null(value: bool | None) -> bool | None:
    # A field that may be left out of a PATCH but has no "no value" to set.
    if value is None:
        raise ValueError("may be left out, but not null")
    return value


class ErrorOut(BaseModel):
    """Every error response: ``{"status", "msg", "detail", "code"}``."""

    status: int
    msg: str
    detail: str
    code: str = Field(examples=["4090004"])


class UserRegister(BaseModel):
    """Register or log-in body: both fields required (422 ``VALIDATION_ERROR`` without one)."""

    model_config = _REQUEST

    email: str = Field(max_length=255, pattern=_EMAIL.pattern)
    pw: str = Field(min_length=1, max_length=200)


class Token(BaseModel):
    """``{"Authorization": "Bearer <jwt>"}``, ready to send as a header."""

    Authorization: str


class UserOut(BaseModel):
    """The signed-in user (the password hash is never part of it)."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    email: str | None
    name: str | None
    phone_number: str | None
    profile_img: str | None
    sns_type: str
    marketing_agree: bool
    status: str
    created_at: dt.datetime


class UserUpdate(BaseModel):
    """The fields a user may change; any other field is refused (422 ``VALIDATION_ERROR``).

    ``extra="forbid"``: the schema says ``additionalProperties: false``, as the
    route behaves. A ``status``, ``pw`` or ``email`` in the body is refused
    loudly rather than dropped silently, and no body key ever reaches
    sqlrecord as a keyword that it could read as one of its own options.
    """

    model_config = _REQUEST_NO_EXTRA

    name: str | None = Field(default=None, max_length=255, pattern=_TEXT)
    phone_number: str | None = Field(default=None, max_length=20, pattern=_TEXT)
    profile_img: str | None = Field(default=None, max_length=1000, pattern=_TEXT)
    # true, false, or left out; not null (the column is NOT NULL).
    marketing_agree: Annotated[
        bool | None, AfterValidator(_not_null), WithJsonSchema({"type": "boolean"})
    ] = None


class ApiKeyCreate(BaseModel):
    """A new key; the memo is for its owner."""

    model_config = _REQUEST

    user_memo: str | None = Field(default=None, max_length=40, pattern=_TEXT)


class ApiKeyUpdate(BaseModel):
    """Rename a key, or stop and restart it."""

    model_config = _REQUEST_NO_EXTRA

    user_memo: str | None = Field(default=None, max_length=40, pattern=_TEXT)
    status: Literal["active", "stopped"] | None = None


class ApiKeyOut(BaseModel):
    """A key as listed: the secret is not shown again."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    access_key: str
    user_memo: str | None
    status: str
    created_at: dt.datetime


class ApiKeyCreated(ApiKeyOut):
    """A key just created: the only response that shows ``secret_key``."""

    secret_key: str


class WhitelistCreate(BaseModel):
    """An IPv4 or IPv6 address (checked by the route: 400 ``INVALID_IP``)."""

    model_config = _REQUEST

    # Documented as an address (so generated clients and fuzzers send one); checked,
    # and normalised, by the route itself.
    ip_addr: str = Field(
        max_length=64,
        examples=["192.0.2.1", "2001:db8::1"],
        json_schema_extra={"anyOf": [{"format": "ipv4"}, {"format": "ipv6"}]},
    )


class WhitelistOut(BaseModel):
    """A whitelisted address of one key."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    api_key_id: int
    ip_addr: str
    created_at: dt.datetime


class _NotificationContent(BaseModel):
    model_config = _REQUEST

    # One line of text: it becomes an e-mail header.
    subject: str = Field(max_length=255, pattern=_HEADER_TEXT)
    body: str = Field(max_length=65_000, pattern=_TEXT)


class EmailNotificationCreate(_NotificationContent):
    """An e-mail to an address."""

    channel: Literal["email"]
    # 254: the longest address SMTP carries (RFC 5321, 4.5.3.1.3).
    recipient: str = Field(min_length=3, max_length=254, pattern=_MAIL_RECIPIENT.pattern)

    @field_validator("recipient")
    @classmethod
    def _local_part_fits(cls, value: str) -> str:
        if len(value.rpartition("@")[0]) > 64:  # RFC 5321, 4.5.3.1.1
            raise ValueError("the part before @ is longer than 64 characters")
        return value


class WebhookNotificationCreate(_NotificationContent):
    """A webhook POST to an http(s) URL."""

    channel: Literal["webhook"]
    recipient: str = Field(min_length=3, max_length=1000, pattern=_URL.pattern)


# Which recipient fits depends on the channel: a union on ``channel``, so that the
# schema says so too (clients and schema-driven tests then send a fitting pair).
NotificationCreate = Annotated[
    EmailNotificationCreate | WebhookNotificationCreate, Field(discriminator="channel")
]
"""A message to queue: e-mail to an address, or a webhook POST to a URL."""


class NotificationQueued(BaseModel):
    """The answer to a queued notification (202)."""

    id: int
    status: str


class NotificationOut(BaseModel):
    """A notification and the record of its delivery."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    channel: str
    recipient: str
    subject: str
    status: str
    attempts: int
    last_error: str | None
    next_attempt_at: dt.datetime
    sent_at: dt.datetime | None
    created_at: dt.datetime
    updated_at: dt.datetime
