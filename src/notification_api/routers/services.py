"""Signed service endpoints: queue notifications and follow their delivery."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, BackgroundTasks, Query, Request

from sqlrecord import Page

from ..deps import IN_UNIT_OF_WORK
from ..errors import ResourceNotFoundError, WebhookNotAllowedError
from ..models import Notification
from ..netguard import AddressPolicy, WebhookURLError, check_webhook_url
from ..ratelimit import RATE_LIMITED, SIGNED_CALL_LIMIT
from ..schemas import (
    ErrorOut,
    NotificationCreate,
    NotificationOut,
    NotificationQueued,
    RowId,
    WebhookNotificationCreate,
)
from ..signing import SignedKey

__all__ = ["router"]

# SIGNED_CALL_LIMIT checks the signature (the routes' SignedKey, resolved once) and counts.
router = APIRouter(
    prefix="/api/services", tags=["services"], dependencies=[IN_UNIT_OF_WORK, SIGNED_CALL_LIMIT]
)
_ERRORS: dict[int | str, dict[str, object]] = {
    400: {"model": ErrorOut},
    401: {"model": ErrorOut},
    403: {"model": ErrorOut},
    404: {"model": ErrorOut},
    422: {"model": ErrorOut},
    429: RATE_LIMITED,
}
_READ = "read_notification_api_services_notifications__notification_id__get"


@router.post(
    "/notifications",
    status_code=202,
    responses={
        **_ERRORS,
        202: {
            "links": {
                "ReadNotification": {
                    "operationId": _READ,
                    "parameters": {"notification_id": "$response.body#/id"},
                }
            }
        },
    },
)
async def queue_notification(
    body: NotificationCreate,
    api_key: SignedKey,
    request: Request,
    background: BackgroundTasks,
) -> NotificationQueued:
    """Queue a message for delivery; the worker sends it and records the outcome."""
    if isinstance(body, WebhookNotificationCreate):
        _check_webhook(body.recipient, request)
    notification = await Notification.using(allow_protected={"user_id", "api_key_id"}).create(
        **body.model_dump(), user_id=api_key.user_id, api_key_id=api_key.id
    )
    # After the response (and so after the commit): tell the worker not to wait
    # for its next poll.
    background.add_task(request.app.state.worker.wake)
    return NotificationQueued(id=notification.id, status=notification.status)


def _check_webhook(url: str, request: Request) -> None:
    """Refuse (403 ``WEBHOOK_NOT_ALLOWED``) a URL the worker would not be allowed to reach.

    The address policy depends on the settings (``WEBHOOK_ALLOWED_NETWORKS``),
    which the schema cannot see; the worker checks again, after resolving.
    """
    policy = AddressPolicy.from_cidrs(request.app.state.settings.webhook_allowed_networks)
    try:
        check_webhook_url(url, policy)
    except WebhookURLError as refused:
        raise WebhookNotAllowedError(str(refused)) from None


@router.get("/notifications/{notification_id}", responses=_ERRORS)
async def read_notification(notification_id: RowId, api_key: SignedKey) -> NotificationOut:
    """One of the key owner's notifications (404 for any other id)."""
    notification = await Notification.get(notification_id)
    if notification is None or notification.user_id != api_key.user_id:
        raise ResourceNotFoundError(f"No notification with id {notification_id}.")
    return NotificationOut.model_validate(notification)


@router.get("/notifications", responses=_ERRORS)
async def list_notifications(
    api_key: SignedKey,
    status: Literal["queued", "sent", "failed"] | None = None,
    channel: Literal["email", "webhook"] | None = None,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    per_page: Annotated[int, Query(ge=1, le=100)] = 20,
) -> Page[NotificationOut]:
    """The key owner's notifications, newest first, optionally by status and channel."""
    filters = {"status": status, "channel": channel}
    query = Notification.filter_by(
        user_id=api_key.user_id, **{name: value for name, value in filters.items() if value}
    )
    found = await query.order_by("-id").paginate(page=page, per_page=per_page)
    return Page.build(
        [NotificationOut.model_validate(row) for row in found.items],
        total=found.total,
        page=found.page,
        per_page=found.per_page,
    )
