"""``in_bulk``: the query's rows among many keys, as a dict by key.

One read scope (the query's session, or one own session for every batch), one
SELECT per batch of keys (``_key_batches`` keeps each under the database's
bound-parameter cap). The objects are what ``select(Model).where(key IN (...))``
gives through the session: the identity map's instances where it holds them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypeVar

from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import AsyncSession

from ._in_bulk import checked_ids, key_fields
from ._key_batches import batches, key_condition, keys_per_statement, parameters_of
from ._query_reads import QueryReads

__all__ = ["QueryInBulk"]

M = TypeVar("M")


class QueryInBulk(QueryReads[M]):
    """``in_bulk``, mixed into :class:`~sqlrecord.Query`.

    Example:
        >>> user = run(User.create(email="kim@example.com"))
        >>> run(User.filter_by(name=None).in_bulk([user.id]))[user.id].email
        'kim@example.com'
    """

    __slots__ = ()

    async def in_bulk(self, ids: Iterable[Any], /, *, field: Any = None) -> dict[Any, M]:
        """The matching rows whose key is in ``ids``, as ``{key: object}``.

        The key is the primary key (a tuple of values when it has several
        columns), or with ``field="email"`` (or ``field=User.email``) another
        column that is unique on its own. Each id is checked against the
        column's type before any SQL; repeats are fine, ids without a row are
        left out, and so are rows the query's filters (or soft delete) exclude.
        The dict follows the order of ``ids``. Any number of ids: they are sent
        in batches that fit the database's limit on bound parameters. No ids:
        ``{}`` and no SQL.

        Example:
            >>> kim = run(User.create(email="kim@example.com"))
            >>> found = run(User.filter_by().in_bulk([kim.id, 404, kim.id]))
            >>> list(found) == [kim.id], found[kim.id].email
            (True, 'kim@example.com')
            >>> list(run(User.filter_by().in_bulk(["kim@example.com"], field="email")))
            ['kim@example.com']
        """
        model = self._model
        shaped = self._ignored_by_in_bulk()
        if shaped is not None:
            raise TypeError(
                f"{model.__name__}.in_bulk() returns a dict in the order of the ids and "
                f"does not use a query's {shaped}; leave it out of the query."
            )
        names = key_fields(model, field)
        wanted = checked_ids(model, names, ids)
        if not wanted:
            return {}
        columns = [getattr(model, name) for name in names]

        async def read(session: AsyncSession) -> dict[Any, M]:
            base = self.statement().add_columns(*columns)
            dialect = session.get_bind(mapper=inspect(model)).dialect
            size = keys_per_statement(dialect, len(columns), used=parameters_of(base, dialect))
            found: dict[Any, M] = {}
            for batch in batches(wanted, size):
                result = await session.execute(base.where(key_condition(columns, batch)))
                if self._unique:
                    result = result.unique()
                for row in result.all():
                    key = row[len(row) - len(columns) :]  # the key columns come last
                    found[key[0] if len(key) == 1 else tuple(key)] = self._attach(row)
            return found

        found = await self._read("in_bulk", read)
        ordered = {key: found.pop(key) for key in wanted if key in found}
        ordered.update(found)  # rows the database matched to a key spelled otherwise
        return ordered

    def _ignored_by_in_bulk(self) -> str | None:
        if self._limit is not None or self._offset is not None:
            return "limit or offset"
        if self._order:
            return "ordering"
        return None
