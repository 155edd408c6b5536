"""Request and response bodies (pydantic), the API's public shapes."""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Literal

from fastapi import Path
from pydantic import BaseModel, ConfigDict, Field, field_validator

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
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")
# No user information (``user:pw@``) and no backslash in the authority; the
# address rules (no private, loopback ... hosts) are checked by the route, which
# knows WEBHOOK_ALLOWED_NETWORKS (netguard.check_webhook_url).
_URL = re.compile(r"^https?://[^\s/@\\]+(/\S*)?$")
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


class ErrorOut(BaseModel):
    """Every error response: ``{"status", "msg", "detail", "code"}``."""

    status: int
    msg: str
    detail: str
    code: str = Field(examples=["4000004"])


class UserRegister(BaseModel):
    """Register or log-in body. Missing fields are answered with 400 ``MISSING_FIELDS``."""

    email: str | None = Field(default=None, max_length=255, pattern=_EMAIL.pattern)
    pw: str | None = Field(default=None, max_length=200)


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
    """The fields a user may change. Any other field is checked by sqlrecord's ``fill``.

    Extra fields are kept and passed on, so that a ``status`` or ``pw`` in the
    body is refused loudly (422) by the model's mass-assignment protection
    rather than dropped silently.
    """

    model_config = ConfigDict(extra="allow")

    name: str | None = Field(default=None, max_length=255)
    phone_number: str | None = Field(default=None, max_length=20)
    profile_img: str | None = Field(default=None, max_length=1000)
    marketing_agree: bool | None = None


class ApiKeyCreate(BaseModel):
    """A new key; the memo is for its owner."""

    user_memo: str | None = Field(default=None, max_length=40)


class ApiKeyUpdate(BaseModel):
    """Rename a key, or stop and restart it."""

    model_config = ConfigDict(extra="forbid")

    user_memo: str | None = Field(default=None, max_length=40)
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
    # One line of text: it becomes an e-mail header.
    subject: str = Field(max_length=255, pattern=_HEADER_TEXT)
    body: str = Field(max_length=65_000)


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
