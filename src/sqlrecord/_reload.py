"""Read attributes of a saved object again, in its session or one of its own."""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import AsyncSession, async_object_session
from sqlalchemy.orm import InstanceState

from ._read_routing import read_in_scope
from ._scope import SessionScope
from .exceptions import NotFoundError

__all__ = ["reload_attributes"]

_O = TypeVar("_O")


async def reload_attributes(
    obj: _O, names: tuple[str, ...], session: AsyncSession | None, operation: str
) -> _O:
    """``session.refresh(obj, names)`` in the object's session (or ``session``, or the
    ambient one); a detached object is refreshed in an own session, closed before return.

    Example:
        >>> user = run(User.create(email="kim@example.com", name="Kim"))
        >>> run(reload_attributes(user, ("name",), None, "refresh")).name
        'Kim'
    """
    model = type(obj)
    state: InstanceState[Any] = inspect(obj)
    if state.key is None:
        raise NotFoundError(f"This {model.__name__} was never saved; it has nothing to load.")
    target = session if session is not None else async_object_session(obj)

    async def refreshed(scope: SessionScope) -> None:
        session = scope.session
        if obj not in session:
            session.add(obj)
        await session.refresh(obj, attribute_names=list(names) or None)

    await read_in_scope(
        lambda: SessionScope(model, target, write=False, operation=operation), refreshed
    )
    return obj
