"""End to end: register, log in, the user's own account."""

from __future__ import annotations

import datetime as dt
import re

import httpx
import pytest

from notification_api.tokens import create_token

from .api import assert_error, register, unique_email
from .conftest import Service

pytestmark = pytest.mark.e2e


async def test_index_shows_utc_time(client: httpx.AsyncClient) -> None:
    response = await client.get("/")
    assert response.status_code == 200
    assert re.fullmatch(
        r"Notification API \(UTC: \d{4}\.\d\d\.\d\d \d\d:\d\d:\d\d\)", response.text
    )


async def test_register_and_login(client: httpx.AsyncClient) -> None:
    email = unique_email()
    auth = await register(client, email)
    assert auth["Authorization"].startswith("Bearer ")

    again = await client.post("/api/auth/register/email", json={"email": email, "pw": "other"})
    assert assert_error(again, 409, "4090012")["msg"] == "EMAIL_EXISTS"

    good = await client.post("/api/auth/login/email", json={"email": email, "pw": "pw-123456"})
    assert good.status_code == 200 and good.json()["Authorization"].startswith("Bearer ")

    wrong_pw = await client.post("/api/auth/login/email", json={"email": email, "pw": "nope"})
    unknown = await client.post(
        "/api/auth/login/email", json={"email": unique_email(), "pw": "pw-123456"}
    )
    # One answer whether the e-mail or the password is wrong.
    assert assert_error(wrong_pw, 401, "4010014") == assert_error(unknown, 401, "4010014")


@pytest.mark.parametrize(
    ("path", "body", "status", "code"),
    [
        ("/api/auth/register/email", {"email": "a@example.com"}, 422, "4220001"),
        ("/api/auth/register/email", {"pw": "x"}, 422, "4220001"),
        ("/api/auth/login/email", {}, 422, "4220001"),
        ("/api/auth/register/kakao", {"email": "a@example.com", "pw": "x"}, 422, "4220001"),
        ("/api/auth/register/twitter", {"email": "a@example.com", "pw": "x"}, 422, "4220001"),
        ("/api/auth/register/email", {"email": "not-an-email", "pw": "x"}, 422, "4220001"),
    ],
)
async def test_register_refusals(
    client: httpx.AsyncClient, path: str, body: dict[str, str], status: int, code: str
) -> None:
    assert_error(await client.post(path, json=body), status, code)


async def test_me_reads_and_never_shows_the_password(client: httpx.AsyncClient) -> None:
    email = unique_email()
    auth = await register(client, email)
    me = await client.get("/api/users/me", headers=auth)
    assert me.status_code == 200
    body = me.json()
    assert body["email"] == email and body["status"] == "active"
    assert "pw" not in body and "pw-123456" not in me.text and "argon2" not in me.text


async def test_token_errors(client: httpx.AsyncClient, service: Service) -> None:
    assert_error(await client.get("/api/users/me"), 401, "4010001")
    assert_error(
        await client.get("/api/users/me", headers={"Authorization": "Token abc"}), 401, "4010001"
    )
    broken = {"Authorization": "Bearer not.a.jwt"}
    assert_error(await client.get("/api/users/me", headers=broken), 401, "4010002")
    past = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    old_token = create_token(service.settings, 1, "any-key", now=past)
    expired = {"Authorization": f"Bearer {old_token}"}
    assert_error(await client.get("/api/users/me", headers=expired), 401, "4010015")


async def test_update_me_is_mass_assignment_protected(client: httpx.AsyncClient) -> None:
    auth = await register(client)
    changed = await client.patch(
        "/api/users/me", json={"name": "Kim", "marketing_agree": True}, headers=auth
    )
    assert changed.status_code == 200, changed.text
    assert (changed.json()["name"], changed.json()["marketing_agree"]) == ("Kim", True)

    for forbidden in ({"status": "admin"}, {"pw": "x"}, {"email": "b@example.com"}):
        refused = await client.patch("/api/users/me", json=forbidden, headers=auth)
        assert assert_error(refused, 422, "4220001")["msg"] == "VALIDATION_ERROR"
    unknown = await client.patch("/api/users/me", json={"nickname": "k"}, headers=auth)
    assert "nickname" in assert_error(unknown, 422, "4220001")["detail"]
    wrong_type = await client.patch(
        "/api/users/me", json={"marketing_agree": "maybe"}, headers=auth
    )
    assert_error(wrong_type, 422, "4220001")

    me = (await client.get("/api/users/me", headers=auth)).json()
    assert (me["status"], me["name"]) == ("active", "Kim")  # nothing of the refused bodies


async def test_delete_me_removes_the_account(client: httpx.AsyncClient) -> None:
    email = unique_email()
    auth = await register(client, email)
    await client.post("/api/users/apikeys", json={}, headers=auth)
    deleted = await client.delete("/api/users/me", headers=auth)
    assert deleted.status_code == 204
    assert_error(await client.get("/api/users/me", headers=auth), 401, "4010001")
    # The e-mail is free again.
    assert (
        await client.post("/api/auth/register/email", json={"email": email, "pw": "x"})
    ).status_code == 201
