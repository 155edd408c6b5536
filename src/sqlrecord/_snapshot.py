"""A snapshot of an object before a write, to put it back as it was when the write fails.

``save()`` and ``delete()`` take one: a failed flush leaves SQLAlchemy's object expired,
detached or half-changed, and the caller must find it as it gave it.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import async_object_session
from sqlalchemy.orm import InstanceState
from sqlalchemy.orm.attributes import set_committed_value

from ._internals import NO_VALUE
from ._model_info import model_info

__all__ = ["Snapshot"]


class Snapshot:
    """An object's loaded column values and pending changes, to undo a failed write."""

    __slots__ = ("committed", "obj", "session", "values")

    def __init__(self, obj: Any) -> None:
        state: InstanceState[Any] = inspect(obj)
        columns = model_info(type(obj)).column_set
        self.obj = obj
        self.values = {key: value for key, value in state.dict.items() if key in columns}
        self.committed = {
            key: value for key, value in state.committed_state.items() if key in columns
        }
        self.session = async_object_session(obj)

    def restore(self) -> None:
        """Put the object back as it was, in the session it was in."""
        obj = self.obj
        state: InstanceState[Any] = inspect(obj)
        columns = model_info(type(obj)).column_set
        for key in [key for key in state.dict if key in columns and key not in self.values]:
            del state.dict[key]  # e.g. an id the failed INSERT assigned
        for key, value in self.values.items():
            original = self.committed.get(key, value)
            if original is not NO_VALUE:
                set_committed_value(obj, key, original)
        for key in self.committed:
            setattr(obj, key, self.values[key])
        if self.session is not None and state.session_id is None:
            self.session.add(obj)
