"""``GET /``: a liveness line with the server's UTC time."""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter
from fastapi.responses import PlainTextResponse

__all__ = ["router"]

router = APIRouter()


@router.get("/", response_class=PlainTextResponse)
async def index() -> str:
    """``Notification API (UTC: YYYY.MM.DD HH:MM:SS)``."""
    now = dt.datetime.now(dt.UTC)
    return f"Notification API (UTC: {now.strftime('%Y.%m.%d %H:%M:%S')})"
