"""Private names of SQLAlchemy's events: who listens to an event of a mapper, a class, an
attribute or a session.

The public ``event.contains`` answers only for a listener one already holds, not whether
any listens, so the planner's proofs read the targets' ``dispatch``. Reading it has a
cost of its own on a session just made (an own session, one per call): the session's
dispatch is created on first use, and each event asked for becomes an attribute of it, a
Python call each. A session no one has listened to has no dispatch of its own, and its
class's listeners are in the empty listeners SQLAlchemy keeps per class, which the first
session of that class created: :func:`first_listened` reads those instead, and makes
nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy.event.base import _Dispatch

__all__ = ["first_listened", "listener_count"]

# The empty listeners by class listened to, then by event name (one registry for all
# event families: each class listened to belongs to one family).
_EMPTY_LISTENERS: Any = _Dispatch.__dict__["_empty_listener_reg"]


def listener_count(target: Any, event_name: str) -> int:
    """How many listeners ``target`` (a mapper, class manager, mapped attribute or
    session) has for ``event_name``: class-level ones (``Mapper``, a model class,
    ``Session``, a ``sessionmaker``) included; 0 for an event the target does not have.

    Example:
        >>> from sqlalchemy import event
        >>> from sqlalchemy.orm import Session
        >>> session = Session()
        >>> listener_count(session, "before_flush")
        0
        >>> event.listen(session, "before_flush", lambda *args: None)
        >>> listener_count(session, "before_flush"), listener_count(session, "no_such")
        (1, 0)
    """
    listeners = getattr(target.dispatch, event_name, None)
    if not listeners:  # the usual case, and cheap: no listener at all
        return 0
    return len(list(listeners))


def first_listened(target: Any, event_names: Iterable[str]) -> str | None:
    """The first of ``event_names`` that ``target`` has a listener for (as
    :func:`listener_count` counts them), or ``None``.

    Example:
        >>> from sqlalchemy import event
        >>> from sqlalchemy.orm import Session, sessionmaker
        >>> make = sessionmaker()
        >>> first_listened(make(), ["after_begin", "after_commit"]) is None
        True
        >>> event.listen(make, "after_commit", lambda session: None)
        >>> first_listened(make(), ["after_begin", "after_commit"])
        'after_commit'
    """
    empties = _class_listeners(target)
    if empties is None:
        dispatch = target.dispatch
        for name in event_names:
            if getattr(dispatch, name, None):  # as listener_count counts, without the count
                return name
        return None
    for name in event_names:
        empty = empties.get(name)
        if empty is not None and empty.parent_listeners:
            return name
    return None


def _class_listeners(target: Any) -> dict[str, Any] | None:
    """The empty listeners of ``target``'s class by event name, each holding that class's
    listeners (``parent_listeners``, the collection SQLAlchemy itself calls them from),
    when ``target`` has no dispatch of its own (no listener of its own: listening to it
    would have made one); else ``None``."""
    if "dispatch" in getattr(target, "__dict__", {"dispatch": None}):
        return None
    found: dict[str, Any] | None = _EMPTY_LISTENERS.get(type(target))
    return found
