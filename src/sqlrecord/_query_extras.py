"""The terminals of ``Query`` that write or page: bulk UPDATE/DELETE, pages, cursors, streams.

They live apart from the chaining and reading half (``query.py``) to keep each
module to one concern; :class:`~sqlrecord.query.Query` inherits them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any, Generic, Self, TypeVar

from sqlalchemy import Select, delete, inspect, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import ColumnElement

from ._paths import resolve_field_ref
from ._protection import Trusted, is_trusted, protected_error
from ._registry import database_for
from ._scope import SessionScope
from ._select_parts import JoinPlan, SortKey
from ._soft import soft_delete_column
from .exceptions import InvalidFieldError, InvalidValueError
from .introspection import model_info
from .object import check_column_value
from .pagination import (
    CursorPage,
    Page,
    decode_cursor,
    encode_cursor,
    keyset_condition,
    page_numbers,
)
from .types import utc_now

__all__ = ["QueryWritesAndPages"]

M = TypeVar("M")


class QueryWritesAndPages(Generic[M]):
    """Bulk writes and pagination, mixed into :class:`~sqlrecord.query.Query`.

    Example:
        >>> from sqlrecord.query import Query
        >>> issubclass(Query, QueryWritesAndPages)
        True
    """

    __slots__ = ()

    if TYPE_CHECKING:  # provided by Query
        _model: type[M]
        _conditions: tuple[ColumnElement[bool], ...]
        _order: tuple[SortKey, ...]
        _limit: int | None
        _offset: int | None
        _with_deleted: bool
        _unique: bool
        _session: AsyncSession | None
        _auto_commit: bool
        _protected: Trusted

        def _copy(self) -> Self: ...
        def _reshaped(
            self,
            *,
            order: tuple[SortKey, ...],
            limit: int,
            conditions: tuple[ColumnElement[bool], ...],
        ) -> Self: ...
        def _where(self) -> list[ColumnElement[bool]]: ...
        def _select(
            self, statement: Select[Any], plan: JoinPlan, *, nulls: bool
        ) -> Select[Any]: ...
        def _scope(self, *, write: bool = False, cursor: bool = False) -> SessionScope: ...
        def statement(self) -> Select[Any]: ...
        def with_session(self, session: AsyncSession | None) -> Self: ...
        def limit(self, count: int) -> Self: ...
        def offset(self, count: int) -> Self: ...
        async def all(self) -> list[M]: ...
        async def count(self) -> int: ...

    def _target_condition(self) -> list[ColumnElement[bool]]:
        """WHERE for a bulk UPDATE/DELETE: the filters, or the page of keys the query selects."""
        if self._limit is None and self._offset is None and not self._order:
            return self._where()
        keys = _primary_key(self._model)
        chosen = self._select(select(*keys), JoinPlan(self._model), nulls=True).subquery()
        # A derived table: MySQL refuses LIMIT in an IN subquery, and a subquery
        # on the table being changed, unless it is materialised like this.
        inner = select(*[chosen.c[key.key] for key in keys])
        return [keys[0].in_(inner) if len(keys) == 1 else tuple_(*keys).in_(inner)]

    async def update(self, /, **values: Any) -> int:
        """UPDATE the matching rows in one statement; returns how many matched.

        Only settable columns may be set, and protected ones only through
        ``using(allow_protected=...)`` (checked like ``fill``); ``updated_at``
        is refreshed by the database. No objects are loaded.

        Example:
            >>> _ = run(User.create(email="kim@example.com"))
            >>> run(User.filter_by(email__endswith="@example.com").update(name="Kim"))
            1
        """
        if not values:
            raise InvalidValueError("update() needs at least one field=value.")
        info = model_info(self._model)
        for name, value in values.items():
            if name not in info.settable_column_names:
                raise InvalidFieldError.unknown(
                    self._model.__name__, name, info.settable_column_names
                )
            if name in info.protected_names and not is_trusted(name, self._protected):
                raise protected_error(self._model, name)
            check_column_value(self._model, name, value)
        statement = update(self._model).where(*self._target_condition()).values(**values)
        return await self._execute_write(statement)

    async def delete(self) -> int:
        """DELETE the matching rows in one statement (soft-delete models: mark them).

        Returns how many rows matched. ORM cascades do not run; the database's
        ``ON DELETE`` rules do.

        Example:
            >>> _ = run(User.create(email="kim@example.com"))
            >>> run(User.filter_by(email="kim@example.com").delete())
            1
        """
        column = soft_delete_column(self._model)
        if column is not None and not self._with_deleted:
            statement = (
                update(self._model).where(*self._target_condition()).values({column: utc_now()})
            )
            return await self._execute_write(statement)
        return await self.hard_delete()

    async def hard_delete(self) -> int:
        """DELETE the matching rows, soft-delete models included.

        Example:
            >>> run(User.filter_by(email="nobody@example.com").hard_delete())
            0
        """
        statement = delete(self._model).where(*self._target_condition())
        return await self._execute_write(statement)

    async def _execute_write(self, statement: Any) -> int:
        statement = statement.execution_options(synchronize_session="fetch")
        scope = SessionScope(self._model, self._session, write=True, auto_commit=self._auto_commit)
        async with scope as session:
            result = await session.execute(statement)
            return int(result.rowcount)  # type: ignore[attr-defined]

    async def paginate(self, page: int = 1, per_page: int = 20) -> Page[M]:
        """One page of rows plus the total: a count query and a page query.

        Example:
            >>> for n in range(3):
            ...     _ = run(User.create(email=f"user{n}@example.com"))
            >>> page = run(User.order_by("email").paginate(page=2, per_page=2))
            >>> [user.email for user in page.items], page.total, page.pages, page.has_prev
            (['user2@example.com'], 3, 2, True)
        """
        page, per_page = page_numbers(page, per_page)
        async with self._scope() as session:
            query = self.with_session(session)
            total = await query.count()
            items = await query.offset((page - 1) * per_page).limit(per_page).all()
        return Page.build(items, total=total, page=page, per_page=per_page)

    async def cursor(self, limit: int = 20, after: str | None = None) -> CursorPage[M]:
        """Keyset pagination: the rows after the opaque ``after`` cursor, in the query's order.

        The primary key breaks ties, so no row is skipped or repeated. Cursors
        are signed: a tampered or foreign one raises :class:`InvalidCursorError`.

        Example:
            >>> for n in range(3):
            ...     _ = run(User.create(email=f"user{n}@example.com"))
            >>> first = run(User.order_by("email").cursor(limit=2))
            >>> [user.email for user in first.items], first.has_next
            (['user0@example.com', 'user1@example.com'], True)
            >>> rest = run(User.order_by("email").cursor(limit=2, after=first.next_cursor))
            >>> [user.email for user in rest.items], rest.next_cursor
            (['user2@example.com'], None)
        """
        limit = _positive("limit", limit)
        keys = self._order + tuple(
            SortKey(resolve_field_ref(self._model, name, purpose="sort"), descending=False)
            for name in model_info(self._model).primary_key_names
            if not any(key.ref is not None and key.ref.key == name for key in self._order)
        )
        if any(key.ref is None for key in keys):
            raise InvalidValueError("cursor() needs order_by() with field names, not expressions.")
        refs = [key.ref for key in keys if key.ref is not None]
        order = "|".join(
            ("-" if key.descending else "") + ref.key for key, ref in zip(keys, refs, strict=True)
        )
        secret = database_for(self._model).cursor_secret
        plan = JoinPlan(self._model)
        columns = [plan.column(ref) for ref in refs]
        extra: tuple[ColumnElement[bool], ...] = ()
        if after is not None:
            values = decode_cursor(after, order, secret=secret)
            extra = (
                keyset_condition(
                    columns,
                    [key.descending for key in keys],
                    [ref.nullable for ref in refs],
                    values,
                ),
            )
        base = self._reshaped(order=keys, limit=limit + 1, conditions=extra)
        statement = base._select(select(self._model, *columns), plan, nulls=True)
        async with self._scope() as session:
            result = await session.execute(statement)
            rows = (result.unique() if self._unique else result).all()
        items = [row[0] for row in rows[:limit]]
        has_next = len(rows) > limit
        next_cursor = (
            encode_cursor(order, list(rows[limit - 1][1:]), secret=secret) if has_next else None
        )
        return CursorPage(items=items, next_cursor=next_cursor, has_next=has_next)

    async def stream(self, *, batch_size: int = 1000) -> AsyncIterator[M]:
        """Iterate over a large result in flat memory, ``batch_size`` rows at a time.

        Close it early with ``contextlib.aclosing`` so its session closes at once.

        Example:
            >>> async def emails() -> list[str]:
            ...     return [user.email async for user in User.filter_by().stream(batch_size=10)]
            >>> run(emails())
            []
        """
        if self._unique:
            raise InvalidValueError(
                "stream() cannot de-duplicate rows of a joined collection load; "
                "use load(..., strategy='selectin') instead."
            )
        statement = self.statement().execution_options(
            yield_per=_positive("batch_size", batch_size)
        )
        async with self._scope(cursor=True) as session:
            result = await session.stream_scalars(statement)
            try:
                async for row in result:
                    yield row
            finally:
                # Before the session ends: a server-side cursor left open (the
                # caller stopped early) would block the connection's next query.
                await result.close()


def _primary_key(model: type[Any]) -> list[Any]:
    return list(inspect(model).primary_key)


def _positive(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidValueError(f"{name} takes a whole number >= 1, got {value!r}.")
    return value
