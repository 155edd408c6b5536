"""``Query``: a lazy, immutable, typed query over one model.

Each chained call returns a new query; nothing runs until a terminal method
is awaited (``await query`` alone means ``all()``). Every lookup, sort key,
field and loader path is checked when it is added, so a typo raises
:class:`~sqlrecord.exceptions.InvalidFieldError` before any SQL is sent.
Terminals follow the served-or-own session rule.

``Query`` only joins its halves, one concern each: the state and run options
(``_query_state``), chaining and the SELECT (``_query_building``), reading
(``_query_reads``), paging (``_query_pages``), bulk writes (``_query_writes``),
annotations and aggregates (``_query_annotations``) and the model-level calls
(``_query_records``). ``QueryMixin`` gives a model the
class-level calls that start a query (``User.filter_by(...)``).
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any, Self, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import ColumnElement

from ._grouped import GroupedQuery
from ._lookups import Q
from ._model_info import model_info
from ._query_annotations import QueryAnnotations
from ._query_pages import QueryPages
from ._query_records import QueryRecords
from ._query_writes import QueryWrites

__all__ = ["Query", "QueryMixin"]

M = TypeVar("M")


class Query(QueryAnnotations[M], QueryRecords[M], QueryPages[M], QueryWrites[M]):
    """A lazy query for ``model``; build it with ``Model.filter_by(...)`` and friends.

    Example:
        >>> run(User.create(email="kim@example.com", name="Kim")).id > 0
        True
        >>> query = User.filter_by(name__icontains="KI").order_by("-id")
        >>> [user.email for user in run(query.all())]
        ['kim@example.com']
        >>> run(query.count()), run(query.exists())
        (1, True)
    """

    __slots__ = ()

    def __repr__(self) -> str:
        return f"<Query of {self._model.__name__}: {self.statement()}>"


class QueryMixin:
    """Class-level entry points into :class:`Query` (part of ``CRUDMixin``).

    Example:
        >>> run(User.count()), run(User.exists(email="kim@example.com"))
        (0, False)
    """

    @classmethod
    def filter_by(cls, /, **lookups: Any) -> Query[Self]:
        """Start a query with keyword lookups (no lookups: every row).

        Example:
            >>> User.filter_by(name="Kim").model is User
            True
        """
        return Query(cls).filter_by(**lookups)

    @classmethod
    def filter(cls, *conditions: ColumnElement[bool] | Q) -> Query[Self]:
        """Start a query with SQLAlchemy expressions or ``Q`` objects.

        Example:
            >>> run(User.filter(User.id > 0).count())
            0
        """
        return Query(cls).filter(*conditions)

    @classmethod
    def exclude(cls, /, **lookups: Any) -> Query[Self]:
        """Start a query without the rows matching the lookups.

        Example:
            >>> run(User.exclude(name="Kim").all())
            []
        """
        return Query(cls).exclude(**lookups)

    @classmethod
    def annotate(cls, /, **annotations: Any) -> Query[Self]:
        """Start a query whose rows carry named values (see :meth:`Query.annotate`).

        Example:
            >>> from sqlrecord import Count
            >>> run(User.annotate(n=Count("posts")).filter_by(n__gt=0).all())
            []
        """
        return Query(cls).annotate(**annotations)

    @classmethod
    async def aggregate(cls, /, **aggregates: Any) -> dict[str, Any]:
        """Aggregates over every row, as one dict (see :meth:`Query.aggregate`).

        Example:
            >>> from sqlrecord import Count, Sum
            >>> run(User.aggregate(n=Count("id"), total=Sum("id")))
            {'n': 0, 'total': None}
        """
        return await Query(cls).aggregate(**aggregates)

    @classmethod
    def group_by(cls, *keys: str | Any) -> GroupedQuery[Self]:
        """Group every row by fields or columns (see :meth:`Query.group_by`).

        Example:
            >>> from sqlrecord import Count
            >>> run(Post.group_by("author_id").aggregate(n=Count("id")))
            []
        """
        return Query(cls).group_by(*keys)

    @classmethod
    def order_by(cls, *keys: str | Any) -> Query[Self]:
        """Start a query sorted by field names (``"-id"``) or expressions.

        Example:
            >>> run(User.order_by("-id").first()) is None
            True
        """
        return Query(cls).order_by(*keys)

    @classmethod
    def load(cls, *paths: str, strategy: str = "auto") -> Query[Self]:
        """Start a query that eager-loads relationships by dotted path.

        Example:
            >>> run(User.load("posts").all())
            []
        """
        return Query(cls).load(*paths, strategy=strategy)

    @classmethod
    def using(
        cls,
        session: AsyncSession | None = None,
        *,
        auto_commit: bool = False,
        allow_protected: bool | Collection[str] = False,
    ) -> Query[Self]:
        """Options for the calls that follow, which take none themselves (see :meth:`Query.using`).

        Example:
            >>> user = run(User.using(allow_protected={"is_admin"}).create(
            ...     email="root@example.com", is_admin=True))
            >>> user.is_admin
            True
        """
        return Query(cls).using(session, auto_commit=auto_commit, allow_protected=allow_protected)

    @classmethod
    def with_deleted(cls) -> Query[Self]:
        """Start a query, or a ``get``, that includes soft-deleted rows.

        Example:
            >>> memo = run(Memo.create(text="gone"))
            >>> run(memo.delete())
            >>> run(Memo.with_deleted().get(memo.id)).is_deleted
            True
        """
        return Query(cls).with_deleted()

    @classmethod
    def with_session(cls, session: AsyncSession | None) -> Query[Self]:
        """Start a query that runs in ``session``.

        Example:
            >>> User.with_session(None).model is User
            True
        """
        return Query(cls, session=session)

    @classmethod
    def all(cls) -> Query[Self]:
        """A query for every row; ``await User.all()`` gives the list, and it chains.

        Example:
            >>> run(User.all().order_by("email").all())
            []
        """
        return Query(cls)

    @classmethod
    async def first(cls) -> Self | None:
        """The first row by primary key, or ``None``.

        Example:
            >>> run(User.first()) is None
            True
        """
        keys = model_info(cls).primary_key_names
        return await Query(cls).order_by(*keys).first()

    @classmethod
    async def count(cls) -> int:
        """How many rows the table has (soft-deleted ones excluded).

        Example:
            >>> run(User.count())
            0
        """
        return await Query(cls).count()

    @classmethod
    async def exists(cls, /, **lookups: Any) -> bool:
        """Whether a row matches the lookups (any row, without lookups).

        Example:
            >>> run(User.exists(email__endswith="@example.com"))
            False
        """
        return await Query(cls).filter_by(**lookups).exists()
