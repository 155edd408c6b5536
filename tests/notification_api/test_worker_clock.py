"""Workers in several processes: leases on the database's clock, and a graceful stop.

Two workers whose processes disagree about the time must never both hold a
row. The tests give one worker a process clock ten minutes off
(:func:`clocks.skew_process_clock`) while another holds a lease: ahead, it
would see the lease as expired and send the row again; behind, it would see no
row as due. Both read the database's clock instead.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from dataclasses import dataclass, field

import httpx
import pytest

from notification_api.channels import Message
from notification_api.models import Notification
from notification_api.worker import DeliveryWorker

from .api import create_key, register, signed
from .clocks import skew_process_clock
from .conftest import Service
from .servers import Receiver

pytestmark = pytest.mark.e2e
PATH = "/api/services/notifications"
SKEW = dt.timedelta(minutes=10)


@dataclass
class HeldChannel:
    """Holds the send of notification ``target`` until ``release``; any other passes at once."""

    target: int
    started: asyncio.Event = field(default_factory=asyncio.Event)
    release: asyncio.Event = field(default_factory=asyncio.Event)
    sent: list[int] = field(default_factory=list)

    async def send(self, message: Message) -> None:
        if message.id == self.target:
            self.started.set()
            await self.release.wait()
        self.sent.append(message.id)

    def worker(self, service: Service) -> DeliveryWorker:
        channels = {"email": self, "webhook": self}
        return DeliveryWorker(service.database, service.settings, channels=channels)


def _another_worker(service: Service) -> DeliveryWorker:
    """A second worker of the service, on the service's own channels."""
    return DeliveryWorker(
        service.database, service.settings, channels=service.app.state.worker.channels
    )


async def _queue_webhook(client: httpx.AsyncClient, url: str) -> int:
    """A new user's signed request queues one webhook to ``url``; its id."""
    key = await create_key(client, await register(client))
    note = {"channel": "webhook", "recipient": url, "subject": "s", "body": "b"}
    response = await signed(client, "POST", PATH, key, json=note)
    assert response.status_code == 202, response.text
    return int(response.json()["id"])


@pytest.mark.usefixtures("paused_worker")
async def test_a_worker_ahead_in_time_takes_no_leased_row(
    client: httpx.AsyncClient,
    service: Service,
    receiver: tuple[Receiver, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    app, receiver_url = receiver
    path = f"/ok/skew-ahead-{service.backend}"
    notification_id = await _queue_webhook(client, f"{receiver_url}{path}")
    held = HeldChannel(notification_id)
    sending = asyncio.create_task(held.worker(service).run_once())
    await asyncio.wait_for(held.started.wait(), 10)  # claimed, leased, being sent
    leased = await Notification.get_or_fail(notification_id)
    assert leased.locked_until is not None and leased.attempts == 1
    with monkeypatch.context() as patch:
        skew_process_clock(patch, SKEW)  # far past the lease (WORKER_LEASE_SECONDS = 60)
        await _another_worker(service).run_once()  # a rival
    untouched = await Notification.get_or_fail(notification_id)
    assert (untouched.attempts, untouched.locked_until) == (1, leased.locked_until)
    assert app.received_on(path) == []  # the rival sent nothing
    held.release.set()
    await sending
    sent = await Notification.get_or_fail(notification_id)
    assert (sent.status, sent.attempts) == ("sent", 1)
    assert held.sent.count(notification_id) == 1


@pytest.mark.usefixtures("paused_worker")
async def test_a_worker_behind_in_time_still_sees_due_rows(
    client: httpx.AsyncClient,
    service: Service,
    receiver: tuple[Receiver, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    app, receiver_url = receiver
    path = f"/ok/skew-behind-{service.backend}"
    notification_id = await _queue_webhook(client, f"{receiver_url}{path}")
    with monkeypatch.context() as patch:
        skew_process_clock(patch, -SKEW)  # the row is due "in ten minutes" by this clock
        await _another_worker(service).run_once()  # a late one
    sent = await Notification.get_or_fail(notification_id)
    assert (sent.status, sent.attempts) == ("sent", 1)
    assert [payload["id"] for _, payload in app.received_on(path)] == [notification_id]
    # sent_at is the database's time too: not ten minutes in the past.
    assert sent.sent_at is not None
    assert abs(sent.sent_at - dt.datetime.now(dt.UTC)) < dt.timedelta(minutes=1)


@pytest.mark.usefixtures("paused_worker")
async def test_a_graceful_stop_lets_the_send_in_flight_finish(
    client: httpx.AsyncClient, service: Service, receiver: tuple[Receiver, str]
) -> None:
    _, receiver_url = receiver
    notification_id = await _queue_webhook(client, f"{receiver_url}/ok/graceful")
    held = HeldChannel(notification_id)
    worker = held.worker(service)
    worker.start()
    await asyncio.wait_for(held.started.wait(), 10)
    asyncio.get_running_loop().call_later(0.3, held.release.set)
    await worker.stop(grace=10)  # returns once the send has finished, well before 10 s
    assert not worker.running
    finished = await Notification.get_or_fail(notification_id)
    assert (finished.status, finished.attempts, finished.locked_until) == ("sent", 1, None)


@pytest.mark.usefixtures("paused_worker")
async def test_a_send_longer_than_the_grace_keeps_its_lease(
    client: httpx.AsyncClient, service: Service, receiver: tuple[Receiver, str]
) -> None:
    _, receiver_url = receiver
    notification_id = await _queue_webhook(client, f"{receiver_url}/ok/graceless")
    held = HeldChannel(notification_id)  # never released
    worker = held.worker(service)
    worker.start()
    await asyncio.wait_for(held.started.wait(), 10)
    loop = asyncio.get_running_loop()
    began = loop.time()
    await worker.stop(grace=0.3)
    assert 0.3 <= loop.time() - began < 5
    cut = await Notification.get_or_fail(notification_id)
    # Still queued, its lease held: another worker takes it after the lease.
    assert (cut.status, cut.attempts, cut.sent_at) == ("queued", 1, None)
    assert cut.locked_until is not None and cut.locked_until > dt.datetime.now(dt.UTC)
    await Notification.filter_by(id=notification_id).hard_delete()  # no stray work left
