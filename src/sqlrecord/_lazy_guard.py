"""Turn async lazy loads into a clear ``NotLoadedError``.

Touching a relationship that was not loaded makes SQLAlchemy try a query from
plain attribute access. Under ``AsyncSession`` that fails with
``MissingGreenlet`` (or ``DetachedInstanceError`` once the session closed),
which says nothing about the fix. sqlrecord wraps each relationship's loader:
outside SQLAlchemy's own greenlet, a value that would need SQL raises
:class:`~sqlrecord.exceptions.NotLoadedError` naming the relationship and how
to load it. A value SQLAlchemy can give without SQL (a many-to-one target
already in the identity map) is still returned.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Mapper
from sqlalchemy.orm.base import NO_RAISE, PASSIVE_NO_RESULT, SQL_OK
from sqlalchemy.util.concurrency import in_greenlet

from .exceptions import NotLoadedError

__all__ = ["install"]

_GUARDED = "_sqlrecord_guarded"


def _guard(loader: Any, model_name: str, key: str) -> Any:
    def load(state: Any, passive: Any) -> Any:
        if in_greenlet() or not passive & SQL_OK:
            return loader(state, passive)
        # Ask for the value without SQL and without raising: it comes back
        # when the identity map has it, PASSIVE_NO_RESULT when a query is needed.
        value = loader(state, (passive & ~SQL_OK) | NO_RAISE)
        if value is PASSIVE_NO_RESULT:
            raise NotLoadedError.for_attribute(model_name, key)
        return value

    setattr(load, _GUARDED, True)
    return load


def _on_configured(mapper: Mapper[Any], class_: type[Any]) -> None:
    from .introspection import BaseMixin

    if not issubclass(class_, BaseMixin):
        return
    manager = mapper.class_manager
    for relation in mapper.relationships:
        impl = manager[relation.key].impl
        if impl.callable_ is not None and not getattr(impl.callable_, _GUARDED, False):
            impl.callable_ = _guard(impl.callable_, class_.__name__, relation.key)


def install() -> None:
    """Listen for mapper configuration (idempotent)."""
    if not event.contains(Mapper, "mapper_configured", _on_configured):
        event.listen(Mapper, "mapper_configured", _on_configured)
