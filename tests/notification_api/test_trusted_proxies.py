"""End to end: the whitelist behind a reverse proxy (issue 16, finding 8).

Behind a proxy every request comes from the proxy's address, so a whitelist
either holds the proxy (and lets everyone in) or nothing works. With
``TRUSTED_PROXIES`` naming the proxy, the client address is taken from
``X-Forwarded-For`` (right-most entry that is not a trusted proxy); from
any other peer the header is ignored, so a client cannot forge its way in.
The suite's client is on loopback: here it plays the proxy when
``127.0.0.0/8`` is trusted, and a forging client when nothing is.
"""

from __future__ import annotations

import ipaddress
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from notification_api import Settings

from .api import assert_error, create_key, prepare, register
from .conftest import Service, reconfigured

pytestmark = pytest.mark.e2e

PATH = "/api/services/notifications"
ALLOWED = "203.0.113.7"
LOOPBACK = [ipaddress.ip_network("127.0.0.0/8")]


@pytest.fixture
async def key(client: httpx.AsyncClient) -> dict[str, Any]:
    """A key whose whitelist holds only ``ALLOWED`` (a documentation address)."""
    auth = await register(client)
    key = await create_key(client, auth)
    added = await client.post(
        f"/api/users/apikeys/{key['id']}/whitelists", json={"ip_addr": ALLOWED}, headers=auth
    )
    assert added.status_code == 201, added.text
    return key


async def _get(client: httpx.AsyncClient, key: dict[str, Any], *forwarded: str) -> httpx.Response:
    prepared = prepare("GET", PATH, key)
    headers = [("x-forwarded-for", value) for value in forwarded]
    return await client.get(prepared.url, headers=[*prepared.headers.items(), *headers])


async def test_forwarded_for_is_ignored_by_default(
    client: httpx.AsyncClient, key: dict[str, Any]
) -> None:
    for forged in ([ALLOWED], [f"198.51.100.1, {ALLOWED}"], [ALLOWED, ALLOWED]):
        refused = await _get(client, key, *forged)
        assert "127.0.0.1" in assert_error(refused, 403, "4030001")["detail"]


async def test_trusted_proxy_forwards_the_client_address(
    client: httpx.AsyncClient, service: Service, key: dict[str, Any]
) -> None:
    with reconfigured(service, trusted_proxies=LOOPBACK):
        assert (await _get(client, key, ALLOWED)).status_code == 200
        # Entries a client wrote itself sit left of the proxy's: they are not read.
        assert (await _get(client, key, f"198.51.100.1, {ALLOWED}")).status_code == 200
        # A chain of trusted proxies is walked through to the client.
        assert (await _get(client, key, f"{ALLOWED}, 127.0.0.5", "127.0.0.9")).status_code == 200
        for forwarded, seen in [
            (f"{ALLOWED}, 198.51.100.1", "198.51.100.1"),  # the client is the right-most
            ("not-an-address", "not-an-address"),
        ]:
            refused = await _get(client, key, forwarded)
            assert seen in assert_error(refused, 403, "4030001")["detail"]
        # No header: the peer itself (the proxy) is the client, and it is not whitelisted.
        assert "127.0.0.1" in assert_error(await _get(client, key), 403, "4030001")["detail"]
    # Another proxy trusted, not the loopback peer: the header is ignored again.
    with reconfigured(service, trusted_proxies=[ipaddress.ip_network("10.0.0.0/8")]):
        assert_error(await _get(client, key, ALLOWED), 403, "4030001")


def test_trusted_proxies_setting_is_a_comma_separated_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRUSTED_PROXIES", "10.0.0.0/8, 127.0.0.1,::1")
    settings = Settings(api_env="test", jwt_secret="s" * 32)
    assert [str(network) for network in settings.trusted_proxies] == [
        "10.0.0.0/8",
        "127.0.0.1/32",
        "::1/128",
    ]
    monkeypatch.setenv("TRUSTED_PROXIES", "")
    assert Settings(api_env="test", jwt_secret="s" * 32).trusted_proxies == []
    monkeypatch.setenv("TRUSTED_PROXIES", "proxy.example.com")
    with pytest.raises(ValidationError):
        Settings(api_env="test", jwt_secret="s" * 32)
