"""The paging terminals of a query: offset pages, keyset cursors and streams.

``paginate`` counts and reads in one session; ``cursor`` continues after a
signed cursor in the query's order (the primary key breaks ties); ``stream``
reads in batches through a server-side cursor, in flat memory.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import ColumnElement

from ._model_info import model_info
from ._pagination import (
    CursorPage,
    Page,
    decode_cursor,
    encode_cursor,
    keyset_condition,
    page_numbers,
)
from ._paths import resolve_field_ref
from ._query_building import whole_number
from ._query_reads import QueryReads
from ._registry import database_for
from ._select_parts import JoinPlan, SortKey
from .exceptions import InvalidValueError

__all__ = ["QueryPages"]

M = TypeVar("M")


class QueryPages(QueryReads[M]):
    """Pages, cursors and streams, mixed into :class:`~sqlrecord.Query`.

    Example:
        >>> page = run(User.order_by("email").paginate(per_page=5))
        >>> page.items, page.total
        ([], 0)
    """

    __slots__ = ()

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

        async def counted_page(session: AsyncSession) -> tuple[int, list[M]]:
            query = self.with_session(session)
            total = await query.count()
            return total, await query.offset((page - 1) * per_page).limit(per_page).all()

        total, items = await self._read("paginate", counted_page)
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
        if self._annotations:
            raise InvalidValueError(
                "cursor() cannot page a query with annotate(): a cursor continues after the "
                "last row's stored sort values, and annotations are computed, not stored. "
                "Use paginate(), which carries annotations and sorts by them."
            )
        limit = whole_number("limit", limit, at_least=1)
        keys = self._order + tuple(
            SortKey(resolve_field_ref(self._model, name, purpose="sort"), descending=False)
            for name in model_info(self._model).primary_key_names
            if not any(key.ref is not None and key.ref.key == name for key in self._order)
        )
        if any(key.ref is None for key in keys):
            raise InvalidValueError("cursor() needs order_by() with field names, not expressions.")
        if any(key.ref is not None and key.ref.json_keys for key in keys):
            raise InvalidValueError(
                "cursor() cannot continue after a key inside a JSON field (its values mix "
                "types); order by columns, or use paginate()."
            )
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
        statement = base._select(select(self._model, *columns), plan, nulls=True, objects=True)

        async def keyset_rows(session: AsyncSession) -> Sequence[Any]:
            result = await session.execute(statement)
            rows: Sequence[Any] = (result.unique() if self._uniquing else result).all()
            return rows

        rows = await self._read("cursor", keyset_rows)
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
        if self._annotations:
            raise InvalidValueError(
                "stream() reads model objects only and would drop the annotations; use "
                "paginate() for annotated pages, or values() for plain rows."
            )
        if self._unique:
            raise InvalidValueError(
                "stream() cannot de-duplicate rows of a joined collection load; "
                "use load(..., strategy='selectin') instead."
            )
        statement = self.statement().execution_options(
            yield_per=whole_number("batch_size", batch_size, at_least=1)
        )
        async with self._scope("stream", cursor=True) as scope:
            result = await scope.session.stream_scalars(statement)
            try:
                async for row in result:
                    yield row
            finally:
                # Before the session ends: a server-side cursor left open (the
                # caller stopped early) would block the connection's next query.
                await result.close()
