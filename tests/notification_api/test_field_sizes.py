"""End to end: every length limit of the API fits its column on every database (finding 8).

The largest value each field accepts, written in 4-byte characters (utf8mb4
stores them in 4 bytes on MariaDB, where ``TEXT`` holds 65,535 bytes), is
stored and read back unchanged; one character more is a 422. The values go
through the real server; what was stored is read back through the API where it
shows it, and straight from the database where it does not (the body).
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from notification_api import Settings
from notification_api.schemas import (
    ApiKeyCreate,
    EmailNotificationCreate,
    UserRegister,
    UserUpdate,
    WhitelistCreate,
)

from .api import assert_error, create_key, register, signed
from .conftest import Service

pytestmark = pytest.mark.e2e

WIDE = "\N{PARTY POPPER}"  # U+1F389: 4 bytes in UTF-8, two UTF-16 units
DOMAIN = "@example.com"


def _max_length(model: type[Any], field: str) -> int:
    """The ``max_length`` the schema gives ``field``: the test follows the schema."""
    for rule in model.model_fields[field].metadata:
        if hasattr(rule, "max_length"):
            return int(rule.max_length)
    raise AssertionError(f"{model.__name__}.{field} has no max_length")


def _wide(length: int, suffix: str = "") -> str:
    """``length`` characters: 4-byte ones, then ``suffix`` (which must fit)."""
    return WIDE * (length - len(suffix)) + suffix


async def _stored(service: Service, sql: str, **params: Any) -> dict[str, Any]:
    async with service.database.engine.connect() as connection:
        row = (await connection.execute(text(sql), params)).one()
    return dict(row._mapping)


async def test_account_fields_hold_their_largest_values(
    client: httpx.AsyncClient, service: Service
) -> None:
    email = _wide(_max_length(UserRegister, "email"), DOMAIN)
    password = _wide(_max_length(UserRegister, "pw"))
    too_long = {"email": WIDE + email, "pw": "pw-123456"}
    assert_error(await client.post("/api/auth/register/email", json=too_long), 422, "4220001")
    assert_error(
        await client.post("/api/auth/register/email", json={"email": email, "pw": password + "x"}),
        422,
        "4220001",
    )
    auth = await register(client, email)
    # register() used its own password; log in with the largest one on a second account.
    other = _wide(_max_length(UserRegister, "email") - 1, DOMAIN)
    created = await client.post("/api/auth/register/email", json={"email": other, "pw": password})
    assert created.status_code == 201, created.text
    login = await client.post("/api/auth/login/email", json={"email": other, "pw": password})
    assert login.status_code == 200, login.text

    profile = {
        field: _wide(_max_length(UserUpdate, field))
        for field in ("name", "phone_number", "profile_img")
    }
    for field, value in profile.items():
        refused = await client.patch("/api/users/me", json={field: value + WIDE}, headers=auth)
        assert_error(refused, 422, "4220001")
    updated = await client.patch("/api/users/me", json=profile, headers=auth)
    assert updated.status_code == 200, updated.text
    me = (await client.get("/api/users/me", headers=auth)).json()
    assert {field: me[field] for field in profile} == profile
    assert me["email"] == email
    stored = await _stored(service, "SELECT email, name FROM users WHERE id = :id", id=me["id"])
    assert stored == {"email": email, "name": profile["name"]}


async def test_key_fields_hold_their_largest_values(client: httpx.AsyncClient) -> None:
    auth = await register(client)
    memo = _wide(_max_length(ApiKeyCreate, "user_memo"))
    refused = await client.post("/api/users/apikeys", json={"user_memo": memo + WIDE}, headers=auth)
    assert_error(refused, 422, "4220001")
    created = await client.post("/api/users/apikeys", json={"user_memo": memo}, headers=auth)
    assert created.status_code == 201, created.text
    assert (await client.get("/api/users/apikeys", headers=auth)).json()[0]["user_memo"] == memo

    # An IPv6 address with a zone, the only address text with room for wide characters.
    url = f"/api/users/apikeys/{created.json()['id']}/whitelists"
    address = _wide(_max_length(WhitelistCreate, "ip_addr") - len("fe80::1%"))
    address = "fe80::1%" + address
    refused = await client.post(url, json={"ip_addr": address + WIDE}, headers=auth)
    assert_error(refused, 422, "4220001")
    added = await client.post(url, json={"ip_addr": address}, headers=auth)
    assert added.status_code == 201, added.text
    assert (await client.get(url, headers=auth)).json()[0]["ip_addr"] == address


def _longest_address(length: int) -> str:
    """The longest mail address a header can carry: ASCII only (non-ASCII recipients are
    refused at creation), a 64-character local part and 63-character domain labels."""
    local = "a" * 64
    rest = length - len(local) - len("@") - len(".com")
    labels = []
    while rest > 0:
        size = min(63, rest - (1 if rest > 63 else 0))
        labels.append("b" * size)
        rest -= size + (1 if rest - size > 0 else 0)
    address = f"{local}@{'.'.join(labels)}.com"
    assert len(address) == length, (len(address), length)
    return address


def _largest_notification() -> dict[str, Any]:
    return {
        "channel": "email",
        "recipient": _longest_address(_max_length(EmailNotificationCreate, "recipient")),
        "subject": _wide(_max_length(EmailNotificationCreate, "subject")),
        "body": _wide(_max_length(EmailNotificationCreate, "body")),
    }


async def test_notification_fields_hold_their_largest_values(
    client: httpx.AsyncClient, service: Service
) -> None:
    """65,000 4-byte characters did not fit MariaDB's TEXT (65,535 bytes)."""
    auth = await register(client)
    key = await create_key(client, auth)
    largest = _largest_notification()
    for field in ("recipient", "subject", "body"):
        one_more = {**largest, field: WIDE + largest[field]}
        refused = await signed(client, "POST", "/api/services/notifications", key, json=one_more)
        assert_error(refused, 422, "4220001")

    queued = await signed(client, "POST", "/api/services/notifications", key, json=largest)
    assert queued.status_code == 202, queued.text
    stored = await _stored(
        service,
        "SELECT recipient, subject, body FROM notifications WHERE id = :id",
        id=queued.json()["id"],
    )
    assert stored == {field: largest[field] for field in ("recipient", "subject", "body")}


def test_default_body_limit_holds_the_largest_notification() -> None:
    """With every character escaped as JSON allows (12 bytes each), it still fits."""
    escaped = json.dumps(_largest_notification(), ensure_ascii=True).encode()
    assert len(escaped) <= Settings(api_env="test", jwt_secret="s" * 32).max_body_bytes
