"""The API's routers, one module per resource."""

from __future__ import annotations

from fastapi import APIRouter

from . import apikeys, auth, index, services, users, whitelists

__all__ = ["ROUTERS", "apikeys", "auth", "index", "services", "users", "whitelists"]

#: Every router, in the order the app includes them (FastAPI tries them in this order).
ROUTERS: tuple[APIRouter, ...] = (
    index.router,
    auth.router,
    users.router,
    apikeys.router,
    whitelists.router,
    services.router,
)
