"""End to end: the key and whitelist limits hold under concurrent requests (issue 16, finding 5).

Each test fires more concurrent requests than the limit allows, over real HTTP
to the running server, several rounds, and checks that exactly the limit is
reached, that every other request gets the service's limit error (never a 500),
and that the database holds exactly what the answers say.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import httpx
import pytest
from sqlalchemy import bindparam, text

from .api import assert_error, create_key, register
from .conftest import Service

pytestmark = pytest.mark.e2e

CONCURRENT = 21  # requests fired at once per round
ROUNDS = 3


async def _all_at_once(
    client: httpx.AsyncClient, requests: list[tuple[str, str, dict[str, Any]]], auth: dict[str, str]
) -> list[httpx.Response]:
    """Send every request at once (one connection each) and return the answers in order."""
    return list(
        await asyncio.gather(
            *(
                client.request(method, url, json=body, headers=auth)
                for method, url, body in requests
            )
        )
    )


def _statuses(responses: list[httpx.Response]) -> Counter[int]:
    return Counter(response.status_code for response in responses)


async def _active_keys(client: httpx.AsyncClient, auth: dict[str, str]) -> list[dict[str, Any]]:
    listed = (await client.get("/api/users/apikeys", headers=auth)).json()
    return [key for key in listed if key["status"] == "active"]


async def test_concurrent_key_creation_stops_at_the_limit(
    client: httpx.AsyncClient, service: Service
) -> None:
    limit = service.settings.max_api_keys
    for _ in range(ROUNDS):
        auth = await register(client)
        answers = await _all_at_once(
            client, [("POST", "/api/users/apikeys", {"user_memo": "race"})] * CONCURRENT, auth
        )
        assert _statuses(answers) == {201: limit, 409: CONCURRENT - limit}, _statuses(answers)
        for refused in (answer for answer in answers if answer.status_code == 409):
            assert_error(refused, 409, "4090004")
        assert len(await _active_keys(client, auth)) == limit


async def _stopped_keys(
    client: httpx.AsyncClient, service: Service, auth: dict[str, str], count: int
) -> list[int]:
    """``count`` stopped keys of the account: made through the API ``limit`` at a time,
    then stopped behind its back (fewer round trips than a PATCH each)."""
    limit = service.settings.max_api_keys
    ids: list[int] = []
    while len(ids) < count:
        batch = await asyncio.gather(*(create_key(client, auth) for _ in range(limit)))
        ids += [key["id"] for key in batch]
        async with service.database.engine.begin() as connection:
            await connection.execute(
                text("UPDATE api_keys SET status = 'stopped' WHERE id IN :ids").bindparams(
                    bindparam("ids", expanding=True)
                ),
                {"ids": ids},
            )
    return ids[:count]


async def test_concurrent_key_restarts_stop_at_the_limit(
    client: httpx.AsyncClient, service: Service
) -> None:
    limit = service.settings.max_api_keys
    for round_number in range(ROUNDS):
        auth = await register(client)
        stopped = await _stopped_keys(client, service, auth, CONCURRENT)
        restarts = [
            ("PATCH", f"/api/users/apikeys/{key_id}", {"status": "active"}) for key_id in stopped
        ]
        if round_number == ROUNDS - 1:
            # The last round mixes restarts with new keys: both count toward one limit.
            restarts = restarts[: CONCURRENT // 2] + [("POST", "/api/users/apikeys", {})] * (
                CONCURRENT - CONCURRENT // 2
            )
        answers = await _all_at_once(client, restarts, auth)
        accepted = [answer for answer in answers if answer.status_code in (200, 201)]
        refused = [answer for answer in answers if answer not in accepted]
        assert len(accepted) == limit, _statuses(answers)
        for answer in refused:
            assert_error(answer, 409, "4090004")
        active = await _active_keys(client, auth)
        assert sorted(key["id"] for key in active) == sorted(
            answer.json()["id"] for answer in accepted
        )


async def test_concurrent_whitelist_additions_stop_at_the_limit(
    client: httpx.AsyncClient, service: Service
) -> None:
    limit = service.settings.max_whitelists
    auth = await register(client)
    for _ in range(ROUNDS):
        key = await create_key(client, auth)
        url = f"/api/users/apikeys/{key['id']}/whitelists"
        additions = [("POST", url, {"ip_addr": f"192.0.2.{n}"}) for n in range(1, 2 * limit + 2)]
        answers = await _all_at_once(client, additions, auth)
        refused = len(additions) - limit
        assert _statuses(answers) == {201: limit, 409: refused}, _statuses(answers)
        for answer in answers:
            if answer.status_code == 409:
                assert_error(answer, 409, "4090005")
        listed = (await client.get(url, headers=auth)).json()
        assert len(listed) == limit
        assert {row["ip_addr"] for row in listed} == {
            answer.json()["ip_addr"] for answer in answers if answer.status_code == 201
        }
        await client.delete(f"/api/users/apikeys/{key['id']}", headers=auth)  # room for the next


async def test_concurrent_adds_of_one_address_store_it_once(client: httpx.AsyncClient) -> None:
    """Finding 8: MariaDB answered 409 to some of these; the docs say 200 for an existing one."""
    auth = await register(client)
    key = await create_key(client, auth)
    url = f"/api/users/apikeys/{key['id']}/whitelists"
    for round_number in range(ROUNDS):
        address = f"2001:db8::{round_number + 1}"
        # Spelled differently each time: the route normalises before it compares.
        spellings = [address, address.upper(), address.replace("::", ":0::")]
        answers = await _all_at_once(
            client,
            [("POST", url, {"ip_addr": spellings[n % 3]}) for n in range(CONCURRENT)],
            auth,
        )
        assert _statuses(answers) == {201: 1, 200: CONCURRENT - 1}, [
            answer.text for answer in answers if answer.status_code not in (200, 201)
        ]
        assert len({answer.json()["id"] for answer in answers}) == 1
        assert {answer.json()["ip_addr"] for answer in answers} == {address}
    listed = (await client.get(url, headers=auth)).json()
    assert len(listed) == ROUNDS
