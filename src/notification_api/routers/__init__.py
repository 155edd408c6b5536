"""The API's routers, one module per resource."""

from __future__ import annotations

from . import apikeys, auth, index, services, users, whitelists

__all__ = ["apikeys", "auth", "index", "services", "users", "whitelists"]
