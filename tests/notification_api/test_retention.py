"""Retention: finished notifications are deleted after NOTIFICATION_RETENTION_DAYS, queued never.

On every database: by the function the workers call, by a running worker's
sweep, and by ``python -m notification_api cleanup``. Ages are on the
database's clock, so a process whose clock runs ahead deletes nothing early.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import subprocess
import sys
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from notification_api.clock import database_now
from notification_api.models import ApiKey, Notification, NotificationStatus
from notification_api.retention import delete_expired
from notification_api.worker import DeliveryWorker

from .api import create_key, register
from .clocks import skew_process_clock
from .conftest import Service, eventually

pytestmark = pytest.mark.e2e
DAYS = 30


async def _rows_aged(
    client: httpx.AsyncClient, service: Service, ages: dict[str, tuple[str, float]]
) -> dict[str, int]:
    """One notification per name, in ``(status, days since it was finished)``; their ids."""
    key = await create_key(client, await register(client))
    owner = (await ApiKey.get_or_fail(key["id"])).user_id
    ids: dict[str, int] = {}
    async with service.database.transaction() as session:
        now = await database_now(session)
        for name, (status, days) in ages.items():
            row = await Notification.using(allow_protected=True).create(
                user_id=owner,
                api_key_id=key["id"],
                channel="email",
                recipient=f"{name}@example.com",
                subject=name,
                body="b",
                status=status,
                # A queued row stays out of the workers' way: due far in the future.
                next_attempt_at=now + dt.timedelta(days=365),
            )
            # updated_at is the database's own (refreshed on every change): set it directly.
            finished = now - dt.timedelta(days=days)
            await session.execute(
                update(Notification).where(Notification.id == row.id).values(updated_at=finished)
            )
            ids[name] = row.id
    return ids


async def _remaining(ids: dict[str, int]) -> set[str]:
    kept = set(await Notification.filter_by(id__in=list(ids.values())).values_list("id", flat=True))
    return {name for name, notification_id in ids.items() if notification_id in kept}


AGES = {
    "sent_old": (NotificationStatus.SENT, DAYS + 1),
    "failed_old": (NotificationStatus.FAILED, DAYS + 10),
    "queued_old": (NotificationStatus.QUEUED, DAYS + 100),
    "sent_recent": (NotificationStatus.SENT, DAYS - 1),
    "failed_recent": (NotificationStatus.FAILED, 0.01),
}


@pytest.mark.usefixtures("paused_worker")
async def test_expired_finished_rows_go_in_batches_queued_ones_stay(
    client: httpx.AsyncClient, service: Service
) -> None:
    ids = await _rows_aged(client, service, AGES)
    settings = service.settings.model_copy(
        update={"notification_retention_days": DAYS, "retention_batch_size": 1}
    )
    assert await delete_expired(service.database, settings) == 2  # two batches of one
    assert await _remaining(ids) == {"queued_old", "sent_recent", "failed_recent"}
    assert await delete_expired(service.database, settings) == 0


@pytest.mark.usefixtures("paused_worker")
async def test_zero_days_keeps_everything(client: httpx.AsyncClient, service: Service) -> None:
    ids = await _rows_aged(client, service, {"ancient": (NotificationStatus.SENT, 10_000)})
    forever = service.settings.model_copy(update={"notification_retention_days": 0})
    assert await delete_expired(service.database, forever) == 0
    assert await _remaining(ids) == {"ancient"}
    await Notification.filter_by(id__in=list(ids.values())).hard_delete()


@pytest.mark.usefixtures("paused_worker")
async def test_a_clock_ahead_deletes_nothing_early(
    client: httpx.AsyncClient, service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = await _rows_aged(client, service, {"young": (NotificationStatus.SENT, DAYS - 1)})
    settings = service.settings.model_copy(update={"notification_retention_days": DAYS})
    with monkeypatch.context() as patch:
        skew_process_clock(patch, dt.timedelta(days=10))  # "young" is 39 days old by it
        assert await delete_expired(service.database, settings) == 0
    assert await _remaining(ids) == {"young"}
    await Notification.filter_by(id__in=list(ids.values())).hard_delete()


@pytest.mark.usefixtures("paused_worker")
async def test_a_running_worker_sweeps(client: httpx.AsyncClient, service: Service) -> None:
    ids = await _rows_aged(client, service, AGES)
    settings = service.settings.model_copy(
        update={"notification_retention_days": DAYS, "retention_sweep_seconds": 0.1}
    )
    channels = service.app.state.worker.channels  # it delivers what may be due, too
    worker = DeliveryWorker(service.database, settings, channels=channels)
    worker.start()
    try:
        await eventually(lambda: _only_left(ids, {"queued_old", "sent_recent", "failed_recent"}))
    finally:
        await worker.stop()


async def _only_left(ids: dict[str, int], names: set[str]) -> bool:
    return await _remaining(ids) == names


@pytest.mark.usefixtures("paused_worker")
async def test_the_cleanup_command(client: httpx.AsyncClient, service: Service) -> None:
    ids = await _rows_aged(client, service, AGES)
    env: dict[str, Any] = {
        **os.environ,
        "API_ENV": "test",
        "DB_URL": service.settings.db_url,
        "NOTIFICATION_RETENTION_DAYS": str(DAYS),
        "RETENTION_BATCH_SIZE": "1",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "notification_api",
        "cleanup",
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, err.decode()
    assert out.decode().startswith("2 notification(s) past NOTIFICATION_RETENTION_DAYS deleted")
    assert await _remaining(ids) == {"queued_old", "sent_recent", "failed_recent"}
