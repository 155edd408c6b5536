"""FastAPI integration: the database's place in an app's lifespan.

``Database.init_app`` is the entry point; this module holds the parts that
need FastAPI itself, which is an optional dependency (``sqlrecord[fastapi]``).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from fastapi import FastAPI

__all__ = ["wrap_lifespan"]


class _Lifetime(Protocol):
    """What the lifespan needs of a ``Database``."""

    async def create_all(self) -> None: ...

    async def dispose(self) -> None: ...


logger = logging.getLogger("sqlrecord")


def wrap_lifespan(app: FastAPI, database: _Lifetime, *, create_all: bool = False) -> None:
    """Run ``database``'s start-up and shut-down around the app's own lifespan.

    At startup: ``create_all()`` once when asked (development only). At
    shutdown, even after a failed startup: ``dispose()``.

    Example:
        >>> from fastapi import FastAPI
        >>> app = FastAPI()
        >>> wrap_lifespan(app, db)
        >>> async def serve_once() -> int:
        ...     async with app.router.lifespan_context(app):
        ...         return (await User.create(email="kim@example.com")).id
        >>> run(serve_once()) > 0
        True
    """
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(application: Any) -> AsyncIterator[Any]:
        try:
            if create_all:
                await database.create_all()
            logger.info("sqlrecord: %r ready", database)
            async with inner(application) as state:
                yield state
        finally:
            await database.dispose()
            logger.info("sqlrecord: %r disposed", database)

    app.router.lifespan_context = lifespan
