"""End to end: queued notifications delivered over SMTP and webhook, retries, restarts."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from typing import Any

import httpx
import pytest

from notification_api.channels.webhook import (
    IDEMPOTENCY_HEADER,
    SIGNATURE_HEADER,
    webhook_signature,
)
from notification_api.models import Notification
from notification_api.worker import DeliveryWorker

from .api import create_key, register, signed
from .conftest import Service, eventually
from .servers import Mailbox, Receiver

pytestmark = pytest.mark.e2e
PATH = "/api/services/notifications"


async def _queue(client: httpx.AsyncClient, key: dict[str, Any], **note: str) -> int:
    response = await signed(client, "POST", PATH, key, json=note)
    assert response.status_code == 202, response.text
    return int(response.json()["id"])


async def _queue_webhook(client: httpx.AsyncClient, key: dict[str, Any], url: str) -> int:
    return await _queue(client, key, channel="webhook", recipient=url, subject="s", body="b")


async def _settled(client: httpx.AsyncClient, key: dict[str, Any], notification_id: int) -> Any:
    async def check() -> Any:
        body = (await signed(client, "GET", f"{PATH}/{notification_id}", key)).json()
        return body if body["status"] != "queued" else None

    return await eventually(check)


async def test_email_and_webhook_are_delivered(
    client: httpx.AsyncClient,
    service: Service,
    mailbox: Mailbox,
    receiver: tuple[Receiver, str],
) -> None:
    app, receiver_url = receiver
    key = await create_key(client, await register(client))
    address = f"kim-{service.backend}@example.com"
    email_id = await _queue(
        client, key, channel="email", recipient=address, subject="Welcome", body="Hello, Kim."
    )
    hook_path = f"/ok/{service.backend}/{key['id']}"
    hook_id = await _queue(
        client,
        key,
        channel="webhook",
        recipient=f"{receiver_url}{hook_path}",
        subject="Order",
        body="Order 7 shipped.",
    )

    for notification_id in (email_id, hook_id):
        settled = await _settled(client, key, notification_id)
        assert (settled["status"], settled["attempts"]) == ("sent", 1), settled
        assert settled["sent_at"] is not None and settled["last_error"] is None

    (mail,) = mailbox.received_for(address)
    assert "Subject: Welcome" in mail and "Hello, Kim." in mail
    ((headers, payload),) = app.received_on(hook_path)
    assert payload == {"id": hook_id, "subject": "Order", "body": "Order 7 shipped."}
    raw = json.dumps(payload, separators=(",", ":")).encode()
    assert headers[SIGNATURE_HEADER.lower()] == webhook_signature(key["secret_key"], raw)
    assert headers[IDEMPOTENCY_HEADER.lower()] == f"notification-{hook_id}"

    # The list: filters and pages, newest first.
    sent = (await signed(client, "GET", PATH, key, status="sent", per_page=1)).json()
    assert (sent["total"], sent["pages"], sent["has_next"], sent["has_prev"]) == (2, 2, True, False)
    assert sent["items"][0]["id"] == hook_id
    second = (await signed(client, "GET", PATH, key, status="sent", per_page=1, page=2)).json()
    assert [item["id"] for item in second["items"]] == [email_id]
    emails = (await signed(client, "GET", PATH, key, channel="email")).json()
    assert [item["id"] for item in emails["items"]] == [email_id]
    assert (await signed(client, "GET", PATH, key, status="failed")).json()["total"] == 0


async def test_failing_receivers_are_retried_then_failed(
    client: httpx.AsyncClient, service: Service, receiver: tuple[Receiver, str]
) -> None:
    app, receiver_url = receiver
    key = await create_key(client, await register(client))
    hook_path = f"/fail/{service.backend}/{key['id']}"
    hook_id = await _queue_webhook(client, key, f"{receiver_url}{hook_path}")
    refused_id = await _queue(
        client, key, channel="email", recipient="nobody@refuse.example", subject="s", body="b"
    )
    limit = service.settings.max_attempts
    failed = await _settled(client, key, hook_id)
    assert (failed["status"], failed["attempts"]) == ("failed", limit), failed
    assert failed["last_error"] == "delivery failed: the receiver answered 5xx"
    attempts = app.received_on(hook_path)
    assert len(attempts) == limit
    # Every retry carries the same idempotency key, so a receiver can drop repeats.
    assert {headers[IDEMPOTENCY_HEADER.lower()] for headers, _ in attempts} == {
        f"notification-{hook_id}"
    }
    refused = await _settled(client, key, refused_id)
    assert (refused["status"], refused["attempts"]) == ("failed", limit), refused
    assert refused["last_error"] == "delivery failed: the mail server refused the recipient (550)"
    listed = (await signed(client, "GET", PATH, key, status="failed")).json()
    assert listed["total"] == 2


async def test_abandoned_claim_is_delivered_after_its_lease(
    client: httpx.AsyncClient, service: Service, mailbox: Mailbox
) -> None:
    # A worker that died mid-send leaves a row claimed (lease set, one attempt
    # counted); once the lease has passed another worker delivers it.
    key = await create_key(client, await register(client))
    me = (await signed(client, "GET", PATH, key)).json()
    assert me["total"] == 0
    address = f"restart-{service.backend}@example.com"
    past = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=5)
    orphan = await Notification.using(allow_protected=True).create(
        user_id=await _user_id(client, key),
        api_key_id=key["id"],
        channel="email",
        recipient=address,
        subject="Still here",
        body="Sent after a restart.",
        attempts=1,
        locked_until=past,
    )
    service.app.state.worker.wake()
    settled = await _settled(client, key, orphan.id)
    assert (settled["status"], settled["attempts"]) == ("sent", 2), settled
    assert len(mailbox.received_for(address)) == 1


async def test_queued_rows_survive_a_worker_restart(
    client: httpx.AsyncClient, service: Service, mailbox: Mailbox
) -> None:
    worker = service.app.state.worker
    address = f"paused-{service.backend}@example.com"
    await worker.stop()
    try:
        key = await create_key(client, await register(client))
        queued = await _queue(
            client, key, channel="email", recipient=address, subject="Later", body="b"
        )
        await asyncio.sleep(3 * service.settings.worker_poll_seconds)
        waiting = (await signed(client, "GET", f"{PATH}/{queued}", key)).json()
        assert (waiting["status"], waiting["attempts"]) == ("queued", 0)
    finally:
        worker.start()
    assert (await _settled(client, key, queued))["status"] == "sent"
    assert len(mailbox.received_for(address)) == 1


async def _user_id(client: httpx.AsyncClient, key: dict[str, Any]) -> int:
    queued = await _queue(
        client, key, channel="email", recipient="probe@example.com", subject="p", body="p"
    )
    notification = await Notification.get_or_fail(queued)
    return notification.user_id


async def test_two_workers_never_send_one_message_twice(
    client: httpx.AsyncClient, service: Service, receiver: tuple[Receiver, str]
) -> None:
    app, receiver_url = receiver
    key = await create_key(client, await register(client))
    hook_path = f"/ok/race/{service.backend}/{key['id']}"
    ids = [
        await _queue(
            client,
            key,
            channel="webhook",
            recipient=f"{receiver_url}{hook_path}",
            subject=f"n{n}",
            body="b",
        )
        for n in range(12)
    ]
    # A second worker on the same database races the service's own.
    rival = DeliveryWorker(
        service.database, service.settings, channels=service.app.state.worker.channels
    )
    for _ in range(4):
        await rival.run_once()
    for notification_id in ids:
        assert (await _settled(client, key, notification_id))["status"] == "sent"
    delivered = [payload["id"] for _, payload in app.received_on(hook_path)]
    assert sorted(delivered) == sorted(ids)  # each exactly once


async def test_a_worker_killed_after_sending_repeats_it_under_the_same_key(
    client: httpx.AsyncClient, service: Service, receiver: tuple[Receiver, str]
) -> None:
    # The worst moment to die: the receiver has the webhook, the worker has not
    # recorded it. The row keeps its lease, and after it the message goes out
    # again with the same Idempotency-Key, so the receiver acts on it once.
    app, receiver_url = receiver
    worker = service.app.state.worker
    key = await create_key(client, await register(client))
    hook_path = f"/slow-first/{service.backend}/{key['id']}"
    notification_id = await _queue_webhook(client, key, f"{receiver_url}{hook_path}")
    await eventually(lambda: asyncio.sleep(0, app.received_on(hook_path)))
    await worker.stop()  # killed mid-delivery
    try:
        claimed = await Notification.get_or_fail(notification_id)
        assert (claimed.status, claimed.attempts, claimed.sent_at) == ("queued", 1, None)
        assert claimed.locked_until is not None  # the lease of the dead worker
        past = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
        claimed.locked_until = past  # the lease runs out
        await claimed.save()
    finally:
        worker.start()
    settled = await _settled(client, key, notification_id)
    assert (settled["status"], settled["attempts"]) == ("sent", 2), settled
    posts = app.received_on(hook_path)
    assert len(posts) == 2  # sent again: at least once is all a crash allows ...
    assert {headers[IDEMPOTENCY_HEADER.lower()] for headers, _ in posts} == {
        f"notification-{notification_id}"
    }
    assert [payload["id"] for payload in app.acted_on_at(hook_path)] == [notification_id]
