"""End to end: every error path answers ``{status, msg, detail, code}`` and leaks nothing."""

from __future__ import annotations

import json
import logging

import httpx
import pytest

from .api import assert_error, register, unique_email
from .conftest import Service

pytestmark = pytest.mark.e2e


async def test_sqlrecord_errors_map_to_http(client: httpx.AsyncClient) -> None:
    email = unique_email()
    await register(client, email)
    duplicate = await client.post("/_faults/duplicate", params={"email": email})
    assert assert_error(duplicate, 409, "4090000")["msg"] == "DUPLICATE"
    assert_error(await client.post("/_faults/foreign-key"), 409, "4090001")
    assert_error(await client.get("/_faults/missing"), 404, "4040000")
    assert_error(await client.get("/_faults/invalid-value"), 422, "4220003")


async def test_unexpected_error_is_a_generic_500(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="notification_api"):
        crashed = await client.get("/_faults/crash")
    body = assert_error(crashed, 500, "5000001")
    assert "SELECT" not in crashed.text and "Traceback" not in crashed.text
    assert body["msg"] == "INTERNAL_ERROR"
    logged = [record for record in caplog.records if record.name == "notification_api"]
    assert logged and logged[0].exc_info is not None  # the trace is in the log


async def test_http_errors_keep_the_shape(client: httpx.AsyncClient) -> None:
    assert_error(await client.get("/no/such/route"), 404, "4040000")
    assert_error(await client.delete("/"), 405, "4050000")
    broken_json = await client.post(
        "/api/auth/login/email", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert_error(broken_json, 422, "4220001")


async def test_access_log_line(client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture) -> None:
    email = unique_email("logged")
    with caplog.at_level(logging.INFO, logger="notification_api.access"):
        auth = await register(client, email)
        await client.get("/api/users/me", headers=auth)
        await client.post("/api/auth/login/email", json={"email": email, "pw": "wrong"})
    lines = [
        json.loads(record.getMessage())
        for record in caplog.records
        if record.name == "notification_api.access"
    ]
    me = next(line for line in lines if line["path"] == "/api/users/me")
    assert (me["method"], me["status"], me["client"]) == ("GET", 200, "127.0.0.1")
    assert isinstance(me["user_id"], int) and isinstance(me["ms"], float)
    assert me["email"] == f"{email[:2]}{'*' * (len(email.split('@')[0]) - 2)}@example.com"
    assert [line["status"] for line in lines] == [201, 200, 401]
    # Neither the password nor the address in clear goes to the log.
    assert "pw-123456" not in caplog.text and email not in caplog.text


async def test_a_lost_database_connection_is_a_503(
    service: Service, client: httpx.AsyncClient
) -> None:
    if service.backend == "sqlite":
        pytest.skip("an embedded SQLite database has no server connection to lose")
    lost = await client.get("/_faults/connection-lost")
    body = assert_error(lost, 503, "5030001")
    assert body["msg"] == "TRY_AGAIN" and lost.headers["retry-after"] == "1"
    assert "terminat" not in lost.text.lower() and "kill" not in lost.text.lower()
    assert (await client.get("/")).status_code == 200  # the pool replaced the connection
    assert_error(await client.get("/_faults/missing"), 404, "4040000")
