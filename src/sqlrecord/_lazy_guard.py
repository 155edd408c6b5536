"""Turn async lazy loads into a clear ``NotLoadedError``.

Touching a relationship that was not loaded, or a column that was not (left out
by ``only()``/``defer()``, deferred by the mapping, expired by a rollback), makes
SQLAlchemy try a query from plain attribute access. Under ``AsyncSession`` that
fails with ``MissingGreenlet`` (or ``DetachedInstanceError`` once the session
closed), which says nothing about the fix. sqlrecord guards both: outside
SQLAlchemy's own greenlet, a value that would need SQL raises
:class:`~sqlrecord.exceptions.NotLoadedError` naming the attribute and how to
load it. A value SQLAlchemy can give without SQL (a many-to-one target already
in the identity map) is still returned. The loaders are SQLAlchemy's private
part: ``_internals.guard_relationship_loads`` and ``guard_column_loads`` wrap them.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Mapper

from ._internals import guard_column_loads, guard_relationship_loads
from .exceptions import NotLoadedError

__all__ = ["install"]


#: The classes whose mapped subclasses are guarded (``install`` adds to it).
_guarded_bases: list[type[Any]] = []


def _on_configured(mapper: Mapper[Any], class_: type[Any]) -> None:
    if not issubclass(class_, tuple(_guarded_bases)):
        return
    model_name = class_.__name__
    guard_relationship_loads(mapper, lambda key: NotLoadedError.for_attribute(model_name, key))
    guard_column_loads(mapper, _refuse_column)


def _refuse_column(model: type[Any], key: str) -> NotLoadedError:
    """The error for a column that was not loaded, naming the ways to load it.

    Example:
        >>> "await obj.refresh('name')" in str(_refuse_column(User, "name"))
        True
    """
    name = model.__name__
    return NotLoadedError(
        f"{name}.{key} is not loaded, and an async session cannot load it on access: "
        "only()/defer() or the model's mapping left it out (or a query of a base class, or "
        f"a rollback). Load it now with `await obj.refresh({key!r})`, or have the query load "
        f"it: name it in `only(..., {key!r})`, or leave it out of `defer()`."
    )


def install(base: type[Any]) -> None:
    """Guard the relationships and columns of every model that subclasses ``base`` (idempotent).

    ``base`` is given, not imported, so that this module sits below the
    introspection that calls it.

    Example:
        >>> from sqlrecord import BaseMixin
        >>> install(BaseMixin)
        >>> BaseMixin in _guarded_bases
        True
    """
    if base not in _guarded_bases:
        _guarded_bases.append(base)
    if not event.contains(Mapper, "mapper_configured", _on_configured):
        event.listen(Mapper, "mapper_configured", _on_configured)
