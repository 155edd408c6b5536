"""An object by its primary key: its row read on a connection of its own, and the object
built as the ORM's loading builds it (``Route.CONNECTION_LOAD``), where the planner's proof
(``_unwatched_load.why_load_differs``) found nothing that could tell that from
``session.get`` in an own session and its close.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import AsyncEngine

from ._internals import key_select, loaded_detached, read_alone

__all__ = ["load_alone"]


async def load_alone(bind: AsyncEngine, model: type[Any], key: tuple[Any, ...]) -> list[Any]:
    """The ``model`` objects of the rows with primary key ``key``, read on a connection of
    ``bind`` of its own and built as the ORM's loading builds them, detached: none or
    one (more only where the table lets several rows share a key, which ``session.get``
    refuses: the caller asks it).

    Example:
        >>> label = run(Label.create(name="hi"))
        >>> [found.name for found in run(load_alone(db._autocommit_engine, Label, (label.id,)))]
        ['hi']
    """
    mapper = inspect(model)
    by_key = key_select(mapper)
    # Unwatched: the planner's proof (why_load_differs) asked just now.
    rows = await read_alone(bind, by_key.statement, by_key.parameters(key), unwatched=True)
    return [loaded_detached(mapper, by_key, row) for row in rows]
