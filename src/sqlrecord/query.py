"""``Query``: a lazy, immutable, typed query over one model.

Each chained call returns a new query; nothing runs until a terminal method
is awaited (``await query`` alone means ``all()``). Every lookup, sort key,
field and loader path is checked when it is added, so a typo raises
:class:`~sqlrecord.exceptions.InvalidFieldError` before any SQL is sent.
Terminals follow the served-or-own session rule.

``Query`` only joins its halves, one concern each: the state and run options
(``_query_state``), chaining and the SELECT (``_query_building``), reading
(``_query_reads``), paging (``_query_pages``), bulk writes (``_query_writes``)
and the model-level calls (``_query_records``).
"""

from __future__ import annotations

from typing import TypeVar

from ._query_pages import QueryPages
from ._query_records import QueryRecords
from ._query_writes import QueryWrites

__all__ = ["Query"]

M = TypeVar("M")


class Query(QueryRecords[M], QueryPages[M], QueryWrites[M]):
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
