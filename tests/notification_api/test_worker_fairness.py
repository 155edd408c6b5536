"""Head-of-line blocking (issue 16, finding 7): a slow receiver delays only its own tenant.

Tenant A queues more webhooks than the old worker's batch (10) to a receiver
that holds every request (``/hold/...``: it answers when the test releases it,
or after ``Receiver.HOLD_SECONDS``); tenant B then queues one to a receiver
that answers at once. The old worker claimed A's ten, waited for the slowest,
and only then took B's. Now A gets at most ``WORKER_TENANT_CONCURRENCY`` sends
in flight and B's is claimed beside them. The test compares counts and the
order of arrivals, not times.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from .api import create_key, register, signed
from .conftest import Service, eventually
from .servers import Receiver

pytestmark = pytest.mark.e2e
PATH = "/api/services/notifications"
SLOW_MESSAGES = 12


async def _queue(client: httpx.AsyncClient, key: dict[str, Any], url: str) -> int:
    note = {"channel": "webhook", "recipient": url, "subject": "s", "body": "b"}
    response = await signed(client, "POST", PATH, key, json=note)
    assert response.status_code == 202, response.text
    return int(response.json()["id"])


async def _status(client: httpx.AsyncClient, key: dict[str, Any], notification_id: int) -> str:
    response = await signed(client, "GET", f"{PATH}/{notification_id}", key)
    return str(response.json()["status"])


async def test_a_slow_receiver_delays_only_its_own_tenant(
    client: httpx.AsyncClient, service: Service, receiver: tuple[Receiver, str]
) -> None:
    app, receiver_url = receiver
    worker = service.app.state.worker
    share = service.settings.worker_tenant_concurrency
    slow_path = f"/hold/fairness-{service.backend}"
    fast_path = f"/ok/fairness-{service.backend}"
    tenant_a = await create_key(client, await register(client))
    tenant_b = await create_key(client, await register(client))
    app.release.clear()
    await worker.stop()  # everything is due when the worker starts: one claim decides
    try:
        slow_url = f"{receiver_url}{slow_path}"
        slow = [await _queue(client, tenant_a, slow_url) for _ in range(SLOW_MESSAGES)]
        fast = await _queue(client, tenant_b, f"{receiver_url}{fast_path}")
    finally:
        worker.start()
    try:
        await eventually(lambda: _is_sent(client, tenant_b, fast))
        timeline = list(app.timeline)
    finally:
        app.release.set()  # the slow receiver answers the rest now
    fast_arrived = timeline.index(("arrived", fast_path))
    before = timeline[:fast_arrived]
    # B's webhook went out while A's first sends were still held: none had been answered.
    assert ("answered", slow_path) not in before, before
    assert before.count(("arrived", slow_path)) <= share
    # A never had more than its share in flight, and all of it arrives in the end.
    for notification_id in slow:
        await eventually(lambda n=notification_id: _is_sent(client, tenant_a, n))
    in_flight = peak = 0
    for event, path in app.timeline:
        if path == slow_path:
            in_flight += 1 if event == "arrived" else -1
            peak = max(peak, in_flight)
    assert 1 < peak <= share, peak  # concurrent, and bounded
    assert len(app.acted_on_at(slow_path)) == SLOW_MESSAGES


async def _is_sent(client: httpx.AsyncClient, key: dict[str, Any], notification_id: int) -> bool:
    return await _status(client, key, notification_id) == "sent"
