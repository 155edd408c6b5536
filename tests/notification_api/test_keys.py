"""End to end: API keys and their IP whitelists."""

from __future__ import annotations

import httpx
import pytest

from .api import assert_error, create_key, register
from .conftest import Service

pytestmark = pytest.mark.e2e


async def test_key_limit_and_secret_shown_once(client: httpx.AsyncClient, service: Service) -> None:
    auth = await register(client)
    limit = service.settings.max_api_keys
    created = [await create_key(client, auth) for _ in range(limit)]
    assert all(len(key["secret_key"]) >= 32 for key in created)
    over = await client.post("/api/users/apikeys", json={}, headers=auth)
    assert assert_error(over, 409, "4090004")["msg"] == "MAX_KEY_COUNT"

    listed = (await client.get("/api/users/apikeys", headers=auth)).json()
    assert [key["id"] for key in listed] == [key["id"] for key in created]
    assert all("secret_key" not in key for key in listed)

    first = created[0]["id"]
    renamed = await client.patch(
        f"/api/users/apikeys/{first}", json={"user_memo": "billing"}, headers=auth
    )
    assert renamed.json()["user_memo"] == "billing"
    stopped = await client.patch(
        f"/api/users/apikeys/{first}", json={"status": "stopped"}, headers=auth
    )
    assert stopped.json()["status"] == "stopped"
    await create_key(client, auth)  # a stopped key does not count
    restart = await client.patch(
        f"/api/users/apikeys/{first}", json={"status": "active"}, headers=auth
    )
    assert_error(restart, 409, "4090004")
    bad_field = await client.patch(
        f"/api/users/apikeys/{first}", json={"access_key": "mine"}, headers=auth
    )
    assert_error(bad_field, 422, "4220001")

    deleted = await client.delete(f"/api/users/apikeys/{first}", headers=auth)
    assert deleted.json() == {"message": "ok"}
    assert_error(await client.delete(f"/api/users/apikeys/{first}", headers=auth), 404, "4040003")


async def test_other_users_keys_are_not_found(client: httpx.AsyncClient) -> None:
    owner = await register(client)
    key = await create_key(client, owner)
    stranger = await register(client)
    base = f"/api/users/apikeys/{key['id']}"
    for method, path, body in [
        ("PATCH", base, {"user_memo": "mine now"}),
        ("DELETE", base, None),
        ("GET", f"{base}/whitelists", None),
        ("POST", f"{base}/whitelists", {"ip_addr": "10.0.0.1"}),
        ("DELETE", f"{base}/whitelists/1", None),
        ("PATCH", "/api/users/apikeys/999999", {"user_memo": "x"}),
    ]:
        response = await client.request(method, path, json=body, headers=stranger)
        assert_error(response, 404, "4040003")
    # The owner's key is untouched.
    assert (await client.get("/api/users/apikeys", headers=owner)).json()[0]["user_memo"] == "test"


async def test_whitelist_validation_duplicates_and_limit(
    client: httpx.AsyncClient, service: Service
) -> None:
    auth = await register(client)
    key = await create_key(client, auth)
    url = f"/api/users/apikeys/{key['id']}/whitelists"
    for bad in ("300.1.1.1", "localhost", "10.0.0.0/8", ""):
        refused = await client.post(url, json={"ip_addr": bad}, headers=auth)
        assert assert_error(refused, 400, "4000006")["msg"] == "INVALID_IP"

    first = await client.post(url, json={"ip_addr": "2001:DB8::0001"}, headers=auth)
    assert first.status_code == 201 and first.json()["ip_addr"] == "2001:db8::1"
    same = await client.post(url, json={"ip_addr": "2001:db8:0::1"}, headers=auth)
    assert same.status_code == 200 and same.json()["id"] == first.json()["id"]

    for n in range(2, service.settings.max_whitelists + 1):
        added = await client.post(url, json={"ip_addr": f"192.0.2.{n}"}, headers=auth)
        assert added.status_code == 201, added.text
    over = await client.post(url, json={"ip_addr": "198.51.100.1"}, headers=auth)
    assert_error(over, 409, "4090005")
    # A duplicate is still answered at the limit: nothing new is stored.
    again = await client.post(url, json={"ip_addr": "192.0.2.2"}, headers=auth)
    assert again.status_code == 200

    listed = (await client.get(url, headers=auth)).json()
    assert len(listed) == service.settings.max_whitelists
    removed = await client.delete(f"{url}/{listed[0]['id']}", headers=auth)
    assert removed.json() == {"message": "ok"}
    gone = await client.delete(f"{url}/{listed[0]['id']}", headers=auth)
    assert assert_error(gone, 404, "4040000")["msg"] == "NOT_FOUND"
