"""``Database``'s side of read replicas: which engine serves a read, the blocks that
force one side, and the read-your-writes token.

The replicas themselves (engines, rotation, checks) are ``_replicas.py``'s; what a
context has written is ``_read_after.py``'s. Only reads that sqlrecord runs in a
session of its own, and a request's read-only unit of work, go to a replica: a unit
of work that may write (``db.transaction()``, a request that commits) keeps to the
primary, so everything it reads is as current as what it writes.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from sqlalchemy.ext.asyncio import AsyncEngine

from . import _read_after
from ._replica_positions import Position
from ._replicas import Replica, ReplicaSet, ReplicaStats
from .exceptions import DatabaseUnavailableError

__all__ = ["ReadRouting", "read_in_scope"]

_T = TypeVar("_T")
_Scope = TypeVar("_Scope", bound="_ReadScope")

logger = logging.getLogger("sqlrecord.replicas")


class _ReadScope(Protocol):
    """A session scope (``_scope.SessionScope``), as :func:`read_in_scope` uses it."""

    replica: Replica | None

    async def __aenter__(self) -> Any: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None: ...


class ReadRouting:
    """``Database``'s read-replica methods (``primary``, ``replica``, ``read_token``, ...)."""

    _replica_set: ReplicaSet | None = None

    if TYPE_CHECKING:  # Database's
        cursor_secret: bytes
        _autocommit: AsyncEngine | None

        @property
        def _pin(self) -> object | None: ...

    # -- forcing a side --------------------------------------------------------

    @contextmanager
    def primary(self) -> Iterator[None]:
        """Send every read in the block to the primary (a read that must be current).

        Example:
            >>> with db.primary():
            ...     run(User.count())
            0
        """
        with _read_after.route_reads("primary"):
            yield

    @contextmanager
    def replica(self) -> Iterator[None]:
        """Send the block's reads to a replica even after this context's own writes
        (a report that may lag). The replica must still be in rotation: when none is,
        the primary serves the read.

        Example:
            >>> with db.replica():
            ...     run(User.count())
            0
        """
        with _read_after.route_reads("replica"):
            yield

    # -- the token a client carries -------------------------------------------

    async def read_token(self) -> str | None:
        """A signed token of this context's writes, for the client to send back with
        its next request (``sqlrecord.fastapi`` does this with a cookie and a header),
        or to carry in a queued job: ``with db.read_after(token):`` then reads what
        those writes wrote. ``None`` when the context wrote nothing, or the database
        has no replicas.

        Example:
            >>> run(db.read_token()) is None  # no replicas here
            True
        """
        replicas = self._replica_set
        positions = replicas.positions() if replicas is not None else None
        if replicas is None or positions is None:
            return None
        position = await self._wanted_position(replicas, resolve_only=True)
        if position is None:
            return None
        return _read_after.encode_token(positions, position, self.cursor_secret)

    @contextmanager
    def read_after(self, token: str | None) -> Iterator[None]:
        """Reads in the block see the writes a :meth:`read_token` stands for (a token
        that is missing, altered or from another database is ignored).

        Example:
            >>> with db.read_after(None):
            ...     run(User.count())
            0
        """
        with _read_after.new_context() as writes:
            self._accept_token(writes, token)
            yield

    def _accept_token(self, writes: dict[object, _read_after.Written], token: str | None) -> bool:
        replicas = self._replica_set
        positions = replicas.positions() if replicas is not None else None
        if token is None or replicas is None or positions is None:
            return False
        position = _read_after.decode_token(positions, token, self.cursor_secret)
        if position is None:
            return False
        written = writes.setdefault(replicas, _read_after.Written())
        written.position = _read_after.merge(positions, written.position, position)
        return True

    def replica_stats(self) -> ReplicaStats:
        """The routing's counters: reads each replica served, reads the primary served
        and why, waits for a replica to catch up (empty without replicas).

        Example:
            >>> db.replica_stats().replica_reads
            0
        """
        return self._replica_set.stats if self._replica_set is not None else ReplicaStats()

    # -- the choice --------------------------------------------------------------

    async def _read_bind(self, *, autocommit: bool) -> tuple[AsyncEngine, Replica] | None:
        """The engine (and its replica) for a read that may go to a replica, or ``None``
        for the primary (the reason counted)."""
        replicas = self._replica_set
        if replicas is None or self._pin is not None:
            return None
        forced = _read_after.forced_route()
        if forced == "primary":
            replicas.primary_read("forced")
            return None  # the counters say why the primary served it
        wanted = None if forced == "replica" else await self._wanted_position(replicas)
        if wanted is _WINDOW:
            replicas.primary_read("window")
            return None
        replica = await replicas.choose(wanted)
        if replica is None:
            return None
        replicas.served(replica)
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("sqlrecord: a read goes to the replica %s", replica.usage.url)
        return (replica.autocommit if autocommit else replica.engine), replica

    async def _wanted_position(
        self, replicas: ReplicaSet, *, resolve_only: bool = False
    ) -> Position | None:
        """The position this context's reads must see, asking the primary after a new
        write; ``_WINDOW`` when positions cannot be compared and the write is recent."""
        writes = _read_after.context_writes()
        written = writes.get(replicas) if writes is not None else None
        if written is None:
            return None
        positions = replicas.positions()
        if written.pending and positions is not None and self._autocommit is not None:
            try:
                async with self._autocommit.connect() as connection:
                    now = await positions.primary(connection)
            except Exception:  # the read will meet the primary's trouble itself
                now = None
            if now is not None:
                written.position = _read_after.merge(positions, written.position, now)
                written.pending = False
        if written.pending or positions is None:
            if resolve_only:
                return written.position
            recent = time.monotonic() - written.at < replicas.config.window
            return _WINDOW if recent else written.position  # type: ignore[return-value]
        return written.position


# A marker, not a position: keep to the primary for the fixed window.
_WINDOW = object()


async def read_in_scope(
    make_scope: Callable[[], _Scope], read: Callable[[_Scope], Awaitable[_T]]
) -> _T:
    """Run ``read`` in the scope ``make_scope()`` makes (``read`` takes its session from
    it, if it needs one). When the scope sent it to a replica that failed (it could not
    be reached, or broke mid-read), the replica leaves the rotation and the read runs
    once more, in a new scope, on another replica or the primary: a reader sees no error
    for a replica that went away.

    Example:
        >>> from sqlalchemy import func, select
        >>> from sqlrecord._scope import SessionScope
        >>> async def count_users() -> int:
        ...     make = lambda: SessionScope(User, None, operation="count", write=False)
        ...     count = select(func.count(User.id))
        ...     return await read_in_scope(make, lambda scope: scope.session.scalar(count))
        >>> run(count_users())
        0
    """
    scope = make_scope()
    try:
        async with scope:
            return await read(scope)
    except (DatabaseUnavailableError, OSError) as error:  # OSError: a connect timeout
        if scope.replica is None:
            raise
        scope.replica.failed(error)
    scope = make_scope()
    async with scope:
        return await read(scope)
