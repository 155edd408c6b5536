"""Signed service endpoints: queue notifications and follow their delivery."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, BackgroundTasks, Query, Request

from sqlrecord import Page, RequestFilters

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


# What a client may filter and sort the list by; every other query key is refused
# with 422 (``user_id=...`` included), instead of being ignored. The signed-request
# and page parameters belong to the route.
NOTIFICATION_FILTERS = RequestFilters(
    Notification,
    fields={"status": {"exact", "in"}, "channel": {"exact"}, "id": {"lt", "gt"}},
    order_by={"id", "created_at"},
    default_order=("-id",),
    ignore={"key", "timestamp", "nonce", "page", "per_page"},
)
_STATUSES = "(queued|sent|failed)"
_SORT_KEY = "-?(id|created_at)"
_ROW_ID = Query(ge=1, le=2**31 - 1)  # as RowId: the id columns are INTEGER everywhere


@router.get("/notifications", responses=_ERRORS)
async def list_notifications(
    request: Request,
    api_key: SignedKey,
    # Declared for the schema (and checked by FastAPI); the query itself is built
    # from the raw query string by NOTIFICATION_FILTERS, which also refuses any key
    # not declared here.
    status: Literal["queued", "sent", "failed"] | None = None,
    status__in: Annotated[
        str | None, Query(pattern=f"^{_STATUSES}(,{_STATUSES})*$", description="a,b,...")
    ] = None,
    channel: Literal["email", "webhook"] | None = None,
    id__lt: Annotated[int | None, _ROW_ID] = None,
    id__gt: Annotated[int | None, _ROW_ID] = None,
    order_by: Annotated[
        str | None,
        Query(pattern=f"^{_SORT_KEY}(,{_SORT_KEY})*$", description="e.g. -created_at,id"),
    ] = None,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    per_page: Annotated[int, Query(ge=1, le=100)] = 20,
) -> Page[NotificationOut]:
    """The key owner's notifications (newest first unless ``order_by`` says otherwise),
    by status, statuses, channel and id range."""
    mine = Notification.filter_by(user_id=api_key.user_id)
    query = NOTIFICATION_FILTERS.apply(request.query_params.multi_items(), mine)
    found = await query.paginate(page=page, per_page=per_page)
    return Page.build(
        [NotificationOut.model_validate(row) for row in found.items],
        total=found.total,
        page=found.page,
        per_page=found.per_page,
    )
