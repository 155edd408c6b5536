"""GET routes only read: their unit of work ends without a COMMIT (``deps.IN_UNIT_OF_WORK``).

A write made in a GET would be rolled back with the session, so this checks, on every
database, that no GET route of the service sends an INSERT, UPDATE or DELETE, and that
the check itself would notice one (a POST's INSERT is seen). The one write a signed GET
makes on purpose, its nonce in ``request_nonces``, goes through a transaction of its own
(``signing._verify_and_spend_nonce``) that commits; it is not counted here.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from sqlalchemy import event

from notification_api.deps import READ_ONLY_METHODS

from .api import create_key, register, signed
from .conftest import Service

pytestmark = pytest.mark.e2e

_WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE")


@contextmanager
def writes_by_requests(service: Service) -> Iterator[list[str]]:
    """The writing statements sent by request handlers (not by the delivery worker, which
    shares the process) while the block runs."""
    seen: list[str] = []

    def note(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        task = asyncio.current_task()
        coroutine = task.get_coro() if task is not None else None
        # uvicorn runs each request in a task of its own, on RequestResponseCycle.run_asgi.
        in_request = "run_asgi" in getattr(coroutine, "__qualname__", "")
        replay_guard = "request_nonces" in statement
        if in_request and not replay_guard and statement.lstrip().upper().startswith(_WRITES):
            seen.append(statement)

    engine = service.database.engine.sync_engine
    event.listen(engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", note)


async def test_no_get_route_writes(client: httpx.AsyncClient, service: Service) -> None:
    auth = await register(client)
    key = await create_key(client, auth)
    queued = await signed(
        client,
        "POST",
        "/api/services/notifications",
        key,
        json={"channel": "email", "recipient": "kim@example.com", "subject": "Hi", "body": "Hi"},
    )
    assert queued.status_code == 202, queued.text
    whitelists = f"/api/users/apikeys/{key['id']}/whitelists"
    reads = {
        "/": lambda: client.get("/"),
        "/api/users/me": lambda: client.get("/api/users/me", headers=auth),
        "/api/users/apikeys": lambda: client.get("/api/users/apikeys", headers=auth),
        "/api/users/apikeys/{key_id}/whitelists": lambda: client.get(whitelists, headers=auth),
        "/api/services/notifications": lambda: signed(
            client, "GET", "/api/services/notifications", key
        ),
        "/api/services/notifications/{notification_id}": lambda: signed(
            client, "GET", f"/api/services/notifications/{queued.json()['id']}", key
        ),
    }
    routes = {
        path
        for path, operations in service.app.openapi()["paths"].items()
        if {method.upper() for method in operations} & READ_ONLY_METHODS
        and not path.startswith("/_faults")
    }
    assert routes == set(reads), "a GET route was added or renamed: read it here too"
    with writes_by_requests(service) as writes:
        for path, read in reads.items():
            response = await read()
            assert response.status_code == 200, (path, response.text)
    assert writes == []

    with writes_by_requests(service) as writes:  # the check sees a write where there is one
        response = await client.post(whitelists, json={"ip_addr": "10.0.0.1"}, headers=auth)
        assert response.status_code == 201, response.text
    assert any(statement.lstrip().upper().startswith("INSERT") for statement in writes)
