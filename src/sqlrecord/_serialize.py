"""``to_dict``: an object's loaded values as a dict, without ever running a query."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import inspect

from ._model_info import model_info
from .exceptions import InvalidFieldError, NotLoadedError

__all__ = ["SerializeMixin"]


class SerializeMixin:
    """Dicts from objects (part of ``CRUDMixin``). For typed output use Pydantic:
    ``UserOut.model_validate(user, from_attributes=True)``.

    Example:
        >>> user = run(User.create(email="kim@example.com", name="Kim"))
        >>> user.to_dict(exclude={"created_at", "updated_at"})
        {'id': 1, 'email': 'kim@example.com', 'name': 'Kim', 'is_admin': False}
    """

    def to_dict(
        self,
        *,
        include: Iterable[str] = (),
        exclude: Iterable[str] = (),
        nested: bool | int = False,
    ) -> dict[str, Any]:
        """Loaded column values by attribute name, plus what ``include`` names.

        ``include`` adds relationships (which must be loaded, else
        :class:`NotLoadedError`), hybrid properties and Python properties.
        ``nested=True`` (or a depth) adds every *loaded* relationship as dicts,
        two levels deep by default; a row already on the path is not repeated.

        Example:
            >>> author = run(User.create(email="kim@example.com"))
            >>> _ = run(Post.create(title="Hello", author=author))
            >>> loaded = run(User.load("posts").first())
            >>> loaded.to_dict(include={"posts"}, exclude={"created_at", "updated_at"})["posts"]
            [{'id': 1, 'title': 'Hello', 'author_id': 1, 'created_at': ..., 'updated_at': ...}]
        """
        depth = 2 if nested is True else int(nested)
        return _to_dict(self, set(include), set(exclude), depth, set())


def _to_dict(
    obj: Any, include: set[str], exclude: set[str], depth: int, path: set[int]
) -> dict[str, Any]:
    model = type(obj)
    info = model_info(model)
    state = inspect(obj)
    loaded = state.dict
    unknown = include - set(info.column_names) - set(info.relation_names) - _readable(model)
    if unknown:
        valid = sorted({*info.relation_names, *_readable(model)})
        raise InvalidFieldError(
            f"to_dict(include=...) got {', '.join(sorted(unknown))}, which {model.__name__} "
            f"does not have. Includable: {', '.join(valid)}.",
            model=model.__name__,
            field=sorted(unknown)[0],
            valid=valid,
        )
    result = {}
    for name in info.column_names:
        if name in exclude:
            continue
        if name in loaded:
            result[name] = loaded[name]
        elif _known_null(state, name):
            result[name] = None
    path = path | {id(obj)}
    for name in info.relation_names:
        wanted = name in include or (depth > 0 and name in loaded)
        if not wanted or name in exclude:
            continue
        if name not in loaded:
            raise NotLoadedError.for_attribute(model.__name__, name)
        value = loaded[name]
        if value is None:
            result[name] = None
        elif isinstance(value, Iterable):
            result[name] = [
                _to_dict(item, set(), set(), depth - 1, path)
                for item in value
                if id(item) not in path
            ]
        elif id(value) not in path:
            result[name] = _to_dict(value, set(), set(), depth - 1, path)
    for name in sorted(include & _readable(model)):
        if name not in exclude:
            result[name] = getattr(obj, name)
    return result


def _known_null(state: Any, name: str) -> bool:
    """A column left out of the INSERT that wrote this object, with no server default:
    the row holds NULL, and SQLAlchemy answers None for it without a query."""
    if state.key is None or name in state.expired_attributes or name in state.callables:
        return False
    prop = state.mapper.attrs.get(name)
    if prop is None or getattr(prop, "deferred", False):
        return False  # a deferred column is unloaded until asked for, not NULL
    column = state.mapper.columns.get(name)
    return column is not None and column.server_default is None and column.server_onupdate is None


def _readable(model: type[Any]) -> set[str]:
    """Hybrid and plain Python properties of the model."""
    names = set(model_info(model).hybrid_property_names)
    for klass in model.__mro__:
        names.update(name for name, value in vars(klass).items() if isinstance(value, property))
    return names
