"""``GET /api/services/notifications`` filters through sqlrecord's ``RequestFilters``
(issue 16, part 2): allowed keys work, every other key is a 422, never ignored."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from notification_api.models import Notification

from .api import assert_error, create_key, register, signed
from .conftest import Service

pytestmark = pytest.mark.e2e
PATH = "/api/services/notifications"


async def _listed(client: httpx.AsyncClient, key: dict[str, Any], **query: Any) -> list[int]:
    response = await signed(client, "GET", PATH, key, **query)
    assert response.status_code == 200, response.text
    return [row["id"] for row in response.json()["items"]]


@pytest.fixture
async def rows(client: httpx.AsyncClient, service: Service) -> tuple[dict[str, Any], list[int]]:
    """A key and four notifications of its owner, in known states (written directly, so
    that the worker's progress cannot change them: none of them is queued)."""
    key = await create_key(client, await register(client))
    probe = await signed(  # the owner's id, through a row of theirs
        client,
        "POST",
        PATH,
        key,
        json={"channel": "email", "recipient": "p@example.com", "subject": "p", "body": "p"},
    )
    owner = (await Notification.get_or_fail(probe.json()["id"])).user_id
    await Notification.filter_by(id=probe.json()["id"]).hard_delete()
    made = []
    for status, channel in (
        ("sent", "email"),
        ("failed", "webhook"),
        ("sent", "webhook"),
        ("failed", "email"),
    ):
        row = await Notification.using(allow_protected=True).create(
            user_id=owner,
            api_key_id=key["id"],
            channel=channel,
            status=status,
            recipient="kim@example.com" if channel == "email" else "https://example.com/hook",
            subject="s",
            body="b",
        )
        made.append(row.id)
    return key, made


async def test_allowed_filters_and_ordering(
    client: httpx.AsyncClient, rows: tuple[dict[str, Any], list[int]]
) -> None:
    key, ids = rows
    assert await _listed(client, key) == ids[::-1]  # newest first by default
    assert await _listed(client, key, status="sent") == [ids[2], ids[0]]
    assert await _listed(client, key, status__in="failed,sent", channel="email") == [ids[3], ids[0]]
    assert await _listed(client, key, id__gt=ids[0], id__lt=ids[3]) == [ids[2], ids[1]]
    assert await _listed(client, key, order_by="id") == ids
    assert await _listed(client, key, order_by="-created_at,-id", per_page=2) == ids[:1:-1]


@pytest.mark.parametrize(
    ("query", "status", "code"),
    [
        ({"user_id": "1"}, 422, "4220002"),  # another tenant's rows: refused, not ignored
        ({"api_key_id": "1"}, 422, "4220002"),
        ({"recipient__icontains": "kim"}, 422, "4220002"),
        ({"status__startswith": "s"}, 422, "4220002"),
        ({"order_by": "recipient"}, 422, "4220001"),  # the schema's pattern
        ({"status__in": "sent,bogus"}, 422, "4220001"),
        ({"id__lt": "ten"}, 422, "4220001"),
    ],
)
async def test_everything_else_is_refused(
    client: httpx.AsyncClient,
    rows: tuple[dict[str, Any], list[int]],
    query: dict[str, str],
    status: int,
    code: str,
) -> None:
    key, _ = rows
    assert_error(await signed(client, "GET", PATH, key, **query), status, code)
