"""Routes that exist only in the tests: each provokes one error path of the service.

They run in the same unit of work as the real routes, so the errors come from
sqlrecord and the databases themselves, not from stand-ins.
"""

from __future__ import annotations

import contextlib

from fastapi import APIRouter
from sqlalchemy import text

from notification_api.deps import IN_UNIT_OF_WORK, UnitOfWork
from notification_api.models import ApiKey, User

router = APIRouter(prefix="/_faults", dependencies=[IN_UNIT_OF_WORK])


@router.post("/duplicate")
async def duplicate(email: str) -> None:
    await User.using(allow_protected=True).create(email=email)  # DuplicateKeyError


@router.post("/foreign-key")
async def foreign_key() -> None:
    await ApiKey.using(allow_protected=True).create(user_id=10**9, access_key="a", secret_key="s")


@router.get("/missing")
async def missing() -> None:
    await User.get_or_fail(10**9)  # NotFoundError


@router.get("/invalid-value")
async def invalid_value() -> None:
    await User.get("not-an-id")  # InvalidValueError


@router.get("/crash")
async def crash() -> None:
    raise RuntimeError("SELECT pw FROM users -- an internal detail no client may see")


@router.get("/connection-lost")
async def connection_lost(session: UnitOfWork) -> None:
    """The database server drops this request's connection; the next query then fails."""
    kill = {
        "postgresql": "SELECT pg_terminate_backend(pg_backend_pid())",
        "mysql": "KILL CONNECTION_ID()",
    }[session.get_bind().dialect.name]
    with contextlib.suppress(Exception):  # the statement dies with its connection
        await session.execute(text(kill))
    await User.get(1)  # DatabaseUnavailableError -> 503
