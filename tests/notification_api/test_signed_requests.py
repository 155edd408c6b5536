"""End to end: signed service requests, their refusals, and whitelist enforcement."""

from __future__ import annotations

import time

import httpx
import pytest

from .api import assert_error, create_key, register, signed, signed_query, v2_signature

pytestmark = pytest.mark.e2e

NOTE = {"channel": "email", "recipient": "kim@example.com", "subject": "Hi", "body": "Hello"}
PATH = "/api/services/notifications"


@pytest.fixture
async def key(client: httpx.AsyncClient) -> dict[str, str]:
    return await create_key(client, await register(client))


async def test_correctly_signed_request_is_accepted(
    client: httpx.AsyncClient, key: dict[str, str]
) -> None:
    queued = await signed(client, "POST", PATH, key, json=NOTE)
    assert queued.status_code == 202, queued.text
    assert queued.json()["status"] == "queued"
    shown = await signed(client, "GET", f"{PATH}/{queued.json()['id']}", key)
    assert shown.status_code == 200 and shown.json()["recipient"] == NOTE["recipient"]


async def test_signature_refusals(client: httpx.AsyncClient, key: dict[str, str]) -> None:
    now = int(time.time())
    cases = [
        ({"secret": "AAAA"}, 401, "4010008"),  # wrong signature
        ({"secret": ""}, 401, "4010008"),  # no signature
        ({"timestamp": now - 3600}, 401, "4010009"),  # expired
        ({"timestamp": now + 3600}, 401, "4010009"),  # from the future
        ({"query": f"key={key['access_key']}"}, 401, "4010007"),  # no timestamp
        ({"query": f"timestamp={now}"}, 401, "4010007"),  # no key
        ({"query": f"key={key['access_key']}&key=x&timestamp={now}"}, 401, "4010007"),
        ({"query": f"key={key['access_key']}&timestamp=soon"}, 401, "4010007"),
        ({"query": f"key={key['access_key']}&timestamp={10**400}"}, 401, "4010007"),
        ({"query": f"key={key['access_key']}&timestamp=-{now}"}, 401, "4010007"),
        ({"query": signed_query("no-such-key")}, 401, "4010010"),
    ]
    for overrides, status, code in cases:
        response = await signed(client, "POST", PATH, key, json=NOTE, **overrides)
        assert_error(response, status, code)
    # Signed for one query string, sent with another: the signature no longer matches.
    honest = signed_query(key["access_key"])
    tampered = await client.get(
        f"{PATH}?{honest}&status=sent",
        headers={
            "X-Signature-Scheme": "NAPI-HMAC-SHA256-V2",
            "secret": v2_signature(key["secret_key"], "GET", PATH, honest, b""),
        },
    )
    assert_error(tampered, 401, "4010008")


async def test_stopped_key_is_refused(client: httpx.AsyncClient) -> None:
    auth = await register(client)
    own = await create_key(client, auth)
    await client.patch(f"/api/users/apikeys/{own['id']}", json={"status": "stopped"}, headers=auth)
    assert_error(await signed(client, "POST", PATH, own, json=NOTE), 401, "4010010")


async def test_whitelist_is_enforced(client: httpx.AsyncClient) -> None:
    auth = await register(client)
    key = await create_key(client, auth)
    url = f"/api/users/apikeys/{key['id']}/whitelists"
    await client.post(url, json={"ip_addr": "203.0.113.7"}, headers=auth)
    refused = await signed(client, "POST", PATH, key, json=NOTE)
    assert "127.0.0.1" in assert_error(refused, 403, "4030001")["detail"]
    await client.post(url, json={"ip_addr": "127.0.0.1"}, headers=auth)
    assert (await signed(client, "POST", PATH, key, json=NOTE)).status_code == 202


async def test_notification_body_is_validated(
    client: httpx.AsyncClient, key: dict[str, str]
) -> None:
    for bad in (
        {**NOTE, "channel": "sms"},
        {**NOTE, "recipient": "not an address"},
        {**NOTE, "channel": "webhook", "recipient": "ftp://example.com/x"},
        {**NOTE, "subject": "Hi\nBcc: everyone@example.com"},
        {"channel": "email"},
    ):
        assert_error(await signed(client, "POST", PATH, key, json=bad), 422, "4220001")


async def test_other_users_notifications_are_not_found(client: httpx.AsyncClient) -> None:
    mine = await create_key(client, await register(client))
    theirs = await create_key(client, await register(client))
    queued = await signed(client, "POST", PATH, theirs, json=NOTE)
    hidden = await signed(client, "GET", f"{PATH}/{queued.json()['id']}", mine)
    assert_error(hidden, 404, "4040000")
    listed = await signed(client, "GET", PATH, mine)
    assert listed.json()["total"] == 0
