"""A query's state and where its calls run: session, ``auto_commit``, trusted fields.

A ``Query`` never changes: each chained call copies the state (``__slots__``,
slot by slot) and changes the copy. The run options live here because they
are the only way an option reaches a call that takes field values
(``Model.using(session).create(**form)``).
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any, Generic, Self, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import ColumnElement

from ._protection import Trusted, trusted_names
from ._select_parts import SortKey
from .exceptions import InvalidValueError

__all__ = ["QueryState"]

M = TypeVar("M")


class QueryState(Generic[M]):
    """What a query holds, copied on every change; :class:`~sqlrecord.Query` is one.

    Example:
        >>> query = User.using(auto_commit=True)
        >>> query.with_session(None).model is User
        True
    """

    __slots__ = (
        "_annotations",
        "_auto_commit",
        "_conditions",
        "_distinct",
        "_for_update",
        "_limit",
        "_loads",
        "_model",
        "_offset",
        "_options",
        "_order",
        "_populate",
        "_protected",
        "_session",
        "_unique",
        "_with_deleted",
    )

    def __init__(self, model: type[M], *, session: AsyncSession | None = None) -> None:
        self._model = model
        # Named SQL values per row (annotate): set on each object, usable in lookups.
        self._annotations: dict[str, ColumnElement[Any]] = {}
        self._conditions: tuple[ColumnElement[bool], ...] = ()
        self._order: tuple[SortKey, ...] = ()
        self._limit: int | None = None
        self._offset: int | None = None
        self._distinct = False
        self._loads: tuple[Any, ...] = ()
        self._options: tuple[Any, ...] = ()
        self._session = session
        self._auto_commit = False
        self._protected: Trusted = False
        self._unique = False
        self._with_deleted = False
        self._for_update: tuple[bool, bool, bool] | None = None
        self._populate = False

    def _copy(self) -> Self:
        clone = object.__new__(type(self))
        for name in QueryState.__slots__:
            setattr(clone, name, getattr(self, name))
        return clone

    @property
    def model(self) -> type[M]:
        """The model this query returns.

        Example:
            >>> User.filter_by().model is User
            True
        """
        return self._model

    # -- run options -----------------------------------------------------

    def using(
        self,
        session: AsyncSession | None = None,
        *,
        auto_commit: bool = False,
        allow_protected: bool | Collection[str] = False,
    ) -> Self:
        """The options of the calls that follow: where they run and what they may set.

        Calls that take field values (``create``, ``update``, ``bulk_create`` ...)
        take no options of their own, so a request's data can never set one;
        they come from here. ``session``: a served session (flushed, never
        closed; ``None``: the ambient one, else an own session). ``auto_commit``:
        commit a served session after each write. ``allow_protected``: protected
        fields this code trusts (``True`` for all), for values that come from
        code, never from a request.

        Example:
            >>> async def admin(email: str) -> bool:
            ...     async with db.transaction() as session:
            ...         trusted = User.using(session, allow_protected={"is_admin"})
            ...         user = await trusted.create(email=email, is_admin=True)
            ...     return user.is_admin
            >>> run(admin("root@example.com"))
            True
        """
        if not isinstance(auto_commit, bool):
            raise InvalidValueError(f"auto_commit takes True or False, got {auto_commit!r}.")
        clone = self._copy()
        clone._session = session
        clone._auto_commit = auto_commit
        clone._protected = trusted_names(self._model, allow_protected)
        return clone

    def with_session(self, session: AsyncSession | None) -> Self:
        """Run in ``session`` (served: never committed or closed by the query); see :meth:`using`.

        Example:
            >>> async def in_transaction() -> int:
            ...     async with db.transaction() as session:
            ...         return await User.filter_by().with_session(session).count()
            >>> run(in_transaction())
            0
        """
        clone = self._copy()
        clone._session = session
        return clone
