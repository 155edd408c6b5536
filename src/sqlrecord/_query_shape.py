"""What a query's rows look like: the columns its objects load (``only``/``defer``),
the soft-deleted rows alone (``only_deleted``), and the database's plan (``explain``).

The chaining calls check their names at once, like every chained call; the loader
options they become are built with the SELECT (``_query_building``), from the
checked names in ``_load_shape``.
"""

from __future__ import annotations

from typing import Any, Self, TypeVar

from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import AsyncSession

from ._explain import Explain, check_analyze, plan_text
from ._load_shape import column_keys, required_columns
from ._query_reads import QueryReads
from ._soft import require_soft_delete
from .exceptions import InvalidValueError

__all__ = ["QueryShape"]

M = TypeVar("M")


class QueryShape(QueryReads[M]):
    """``only``, ``defer``, ``only_deleted`` and ``explain``, mixed into :class:`~sqlrecord.Query`.

    Example:
        >>> user = run(User.create(email="kim@example.com", name="Kim"))
        >>> slim = run(User.filter_by(id=user.id).only("email").one())
        >>> slim.email, "name" in slim.to_dict()
        ('kim@example.com', False)
    """

    __slots__ = ()

    def only(self, *fields: Any) -> Self:
        """Load only these columns into the objects (names, or attributes such as ``User.email``).

        The primary key, a versioned model's version column and the polymorphic
        discriminator are always loaded. Reading a column left out raises
        :class:`~sqlrecord.exceptions.NotLoadedError`; ``await obj.refresh(name)`` loads
        it. Saving writes the changed columns only and leaves the others as they are.
        Replaces an earlier ``only()`` or ``defer()``.

        Example:
            >>> print(User.filter_by().only("email").statement())  # doctest: +ELLIPSIS
            SELECT doc_users.id, doc_users.email FROM doc_users
        """
        clone = self._copy()
        clone._only, clone._deferred = column_keys(self._model, fields, "only()"), ()
        return clone

    def defer(self, *fields: Any) -> Self:
        """Load every column but these (names or column attributes); see :meth:`only`.

        The columns an object always needs (primary key, version, discriminator)
        cannot be deferred.

        Example:
            >>> print(User.filter_by().defer("name", User.is_admin).statement())
            ... # doctest: +ELLIPSIS
            SELECT doc_users.id, doc_users.email, doc_users.created_at, ...
        """
        keys = column_keys(self._model, fields, "defer()")
        required = required_columns(self._model)
        for key in keys:
            if key in required:
                raise InvalidValueError(
                    f"{self._model.__name__}.{key} is always loaded ({required[key]}); "
                    "leave it out of defer()."
                )
        clone = self._copy()
        clone._deferred = tuple(dict.fromkeys((*self._deferred, *keys)))
        return clone

    def only_deleted(self) -> Self:
        """Only the soft-deleted rows (see :class:`~sqlrecord.SoftDeleteMixin`).

        Reads, ``count``, ``values``, ``get`` and ``update`` see the deleted rows
        alone; ``delete()`` removes them for good (a purge), as ``hard_delete()``
        does. A model without soft delete refuses it with
        :class:`~sqlrecord.exceptions.ConfigurationError`.

        Example:
            >>> memo = run(Memo.create(text="gone"))
            >>> run(memo.delete())
            >>> run(Memo.filter_by().only_deleted().count()), run(Memo.count())
            (1, 0)
        """
        require_soft_delete(self._model, "only_deleted()")
        clone = self._copy()
        clone._with_deleted, clone._only_deleted = True, True
        return clone

    async def explain(self, *, analyze: bool = False) -> str:
        """The database's plan for this query's SELECT, as text.

        PostgreSQL ``EXPLAIN``, MariaDB ``EXPLAIN``, SQLite ``EXPLAIN QUERY PLAN``.
        ``analyze=True`` runs the SELECT and reports what it did (PostgreSQL
        ``EXPLAIN ANALYZE``, MariaDB ``ANALYZE``); SQLite has no such form and
        refuses it with :class:`~sqlrecord.exceptions.InvalidValueError`. The
        query's values stay bound parameters. Runs as a read in the query's session.

        Example:
            >>> print(run(User.filter_by(email="kim@example.com").explain()))
            ... # doctest: +ELLIPSIS
            SEARCH doc_users USING INDEX ... (email=?)
        """
        check_analyze(analyze, "")
        statement = Explain(self.statement(), analyze=analyze)

        async def plan(session: AsyncSession) -> str:
            dialect = session.get_bind(mapper=inspect(self._model)).dialect.name
            check_analyze(analyze, dialect)
            result = await session.execute(statement)
            return plan_text(dialect, list(result.keys()), result.all())

        return await self._read("explain", plan)
