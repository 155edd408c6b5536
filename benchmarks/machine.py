"""What the numbers were measured on: the machine, Python, the database server."""

from __future__ import annotations

import datetime as dt
import os
import platform
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from .targets import Target

__all__ = ["describe_machine"]

_VERSION_SQL = {
    "sqlite": "SELECT 'SQLite ' || sqlite_version()",
    "postgres": "SELECT version()",
    "mysql": "SELECT VERSION()",
}


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


async def describe_machine(where: Target) -> dict[str, Any]:
    """CPU model, cores, Python, OS and the database server's version."""
    engine = create_async_engine(where.sqlalchemy_url)
    try:
        async with engine.connect() as connection:
            server = str(await connection.scalar(text(_VERSION_SQL[where.name])))
    finally:
        await engine.dispose()
    return {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "os": platform.platform(),
        "database": where.name,
        "server": server.split(" on ")[0].split(",")[0],
    }
