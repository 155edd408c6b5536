"""Whether reading an object's row by its key on a connection of its own, and building the
object as the ORM's loading builds it, gives what ``session.get`` in an own session gives.

An own session's ``get`` of one key, in autocommit, is ``session.get``: one SELECT of the
model's columns by the key, an object built from the row, and the session's close, which
detaches it. :func:`why_load_differs` is the planner's proof that the same SELECT, sent on
a connection of its own (by the driver where it can, ``_internals.direct``), and the same
object (``_internals.sqlalchemy_loading``), without the session, give the same
(``_object_by_key.py`` does it). What could tell: a listener of the session (its begin, its
close, ``loaded_as_persistent``, ``do_orm_execute``: the planner asks
``_unwatched.why_session_watched`` first) or of the objects' ``load``, a listener
or log of the engine's statements (they would see Core's SELECT, not the ORM's), a mapping
whose loading does more than put the row's values into the object (inheritance, deferred or
expression columns, eager relationships), a session class or option that loads otherwise,
a key with a NULL part (the ORM loads by ``IS NULL`` and warns).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from ._internals import (
    configure_for_load,
    first_listened,
    why_not_plain_load,
    why_session_loads_otherwise,
    why_statements_watched,
)

__all__ = ["why_load_differs"]


def why_load_differs(model: type[Any], session: AsyncSession, key: tuple[Any, ...]) -> str | None:
    """Why reading ``model``'s row by ``key`` on a connection of its own and building the
    object (``_object_by_key.load_alone``) might differ from ``session.get`` in the own,
    new ``session`` and its close, nothing listening to sessions (the planner's other
    proof); ``None`` when it cannot.

    Example:
        >>> why_load_differs(Label, db._open_session(autocommit=True), (7,)) is None
        True
        >>> why_load_differs(User, db._open_session(autocommit=True), (None,))
        'a part of the key is None: the ORM loads by IS NULL'
    """
    if any(part is None for part in key):
        return "a part of the key is None: the ORM loads by IS NULL"
    mapper = inspect(model)
    configure_for_load(mapper)
    reason = why_not_plain_load(mapper)
    if reason is not None:
        return reason
    if first_listened(mapper.class_manager, ("load",)):
        return "a 'load' listener watches the loaded objects"
    sync_session = session.sync_session
    bind = session.bind
    if not isinstance(bind, AsyncEngine):
        return "the session is bound to a connection"
    reason = why_session_loads_otherwise(sync_session, mapper, bind.sync_engine)
    return reason or why_statements_watched(bind)
