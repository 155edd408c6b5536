"""Whether reading objects' rows on a connection of its own, and building the objects as
the ORM's loading builds them, gives what ``session.get`` or ``session.scalars`` in an own
session gives.

An own session's ``get`` of one key, in autocommit, is ``session.get``: one SELECT of the
model's columns by the key, an object built from the row, and the session's close, which
detaches it; a query's ``all()`` or ``first()`` is likewise one SELECT and an object per
row. :func:`why_load_differs` is the planner's proof that the same SELECT, sent on a
connection of its own (by the driver where it can, ``_internals.direct``), and the same
objects (``_internals.sqlalchemy_loading``), without the session, give the same
(``_reads_alone.py`` does it). What could tell: a listener of the session (its begin, its
close, ``loaded_as_persistent``, ``do_orm_execute``: the planner asks
``_unwatched.why_session_watched`` first) or of the objects' ``load``, a listener
or log of the engine's statements (they would see Core's SELECT, not the ORM's), a mapping
whose loading does more than put the row's values into the object (inheritance, deferred or
expression columns, eager relationships), a session class or option that loads otherwise,
a key with a NULL part (the ORM loads by ``IS NULL`` and warns), a query that selects more
than the model's objects or carries loader or execution options. :func:`why_read_differs`
is the same proof for a SELECT of columns (``values``, ``count`` …), read otherwise by the
session's connection.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, inspect
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.sql import Executable

from ._internals import (
    configure_for_load,
    first_listened,
    why_not_plain_load,
    why_select_loads_otherwise,
    why_session_loads_otherwise,
    why_statements_watched,
)

__all__ = ["why_load_differs", "why_read_differs"]


def why_load_differs(
    model: type[Any],
    session: AsyncSession,
    *,
    key: tuple[Any, ...] | None = None,
    statement: Select[Any] | None = None,
) -> str | None:
    """Why reading ``model``'s row by ``key`` (or the rows of a query's ``statement``) on a
    connection of its own and building the objects (``_reads_alone.py``) might differ
    from ``session.get`` (or ``session.scalars``) in the own, new ``session`` and its
    close, nothing listening to sessions (the planner's other proof); ``None`` when it
    cannot.

    Example:
        >>> from sqlalchemy import select
        >>> session = db._open_session(autocommit=True)
        >>> why_load_differs(Label, session, key=(7,)) is None
        True
        >>> why_load_differs(User, session, key=(None,))
        'a part of the key is None: the ORM loads by IS NULL'
        >>> why_load_differs(Label, session, statement=select(Label, Label.id))
        "the query selects more than the model's objects"
    """
    if key is not None and any(part is None for part in key):
        return "a part of the key is None: the ORM loads by IS NULL"
    mapper = inspect(model)
    configure_for_load(mapper)
    reason = why_not_plain_load(mapper)
    if reason is not None:
        return reason
    if first_listened(mapper.class_manager, ("load",)):
        return "a 'load' listener watches the loaded objects"
    reason = why_read_differs(model, session)
    if reason is None and statement is not None:
        assert isinstance(session.bind, AsyncEngine)  # why_read_differs checked it
        reason = why_select_loads_otherwise(statement, mapper, session.bind.sync_engine)
    return reason


def why_read_differs(
    model: type[Any], session: AsyncSession, statement: Executable | None = None
) -> str | None:
    """Why a SELECT of ``model`` (of columns: ``values``, ``count`` …; the objects' of
    :func:`why_load_differs`) on a connection of its own might differ from the own, new
    ``session``'s (nothing listening to sessions: the planner's other proof): the session
    is bound to a connection, or binds the model elsewhere, or its class reads otherwise;
    the ``statement`` (when given) or the engine has execution options; something
    watches the engine's statements. ``None`` when it cannot.

    Example:
        >>> from sqlalchemy import select
        >>> session = db._open_session(autocommit=True)
        >>> why_read_differs(Label, session, select(Label.id)) is None
        True
        >>> why_read_differs(Label, session, select(Label.id).execution_options(yield_per=5))
        'the query has execution options'
    """
    bind = session.bind
    if not isinstance(bind, AsyncEngine):
        return "the session is bound to a connection"
    if statement is not None and statement.get_execution_options():
        return "the query has execution options"
    reason = why_session_loads_otherwise(session.sync_session, inspect(model), bind.sync_engine)
    return reason or why_statements_watched(bind)
