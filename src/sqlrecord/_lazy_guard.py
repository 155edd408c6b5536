"""Turn async lazy loads into a clear ``NotLoadedError``.

Touching a relationship that was not loaded makes SQLAlchemy try a query from
plain attribute access. Under ``AsyncSession`` that fails with
``MissingGreenlet`` (or ``DetachedInstanceError`` once the session closed),
which says nothing about the fix. sqlrecord wraps each relationship's loader:
outside SQLAlchemy's own greenlet, a value that would need SQL raises
:class:`~sqlrecord.exceptions.NotLoadedError` naming the relationship and how
to load it. A value SQLAlchemy can give without SQL (a many-to-one target
already in the identity map) is still returned. The loader is SQLAlchemy's
private part: ``_internals.guard_relationship_loads`` wraps it.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Mapper

from ._internals import guard_relationship_loads
from .exceptions import NotLoadedError

__all__ = ["install"]


#: The classes whose mapped subclasses are guarded (``install`` adds to it).
_guarded_bases: list[type[Any]] = []


def _on_configured(mapper: Mapper[Any], class_: type[Any]) -> None:
    if not issubclass(class_, tuple(_guarded_bases)):
        return
    model_name = class_.__name__
    guard_relationship_loads(mapper, lambda key: NotLoadedError.for_attribute(model_name, key))


def install(base: type[Any]) -> None:
    """Guard the relationships of every model that subclasses ``base`` (idempotent).

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
