"""Read replicas: their engines, which one serves a read, and when none may.

A :class:`ReplicaSet` holds one engine per replica. For each read that may go to a
replica it picks one by the policy, among those in rotation:

- a replica is checked (its replayed position, lag and state, one query) at most every
  ``check_every`` seconds as it is picked; one that does not answer, or is not
  replicating, or lags more than ``max_lag`` seconds, leaves the rotation for
  ``retry_after`` seconds, and is checked again then;
- a read that must see a write (``_read_after.py``) takes a replica only once it has
  replayed that write's position, waiting for it up to ``wait`` seconds (MariaDB waits
  on the server, ``MASTER_GTID_WAIT``; PostgreSQL is asked again at growing intervals);
  where positions cannot be compared, it keeps to the primary for ``window`` seconds
  after the write;
- otherwise, the primary serves the read. Nothing here ever blocks longer than ``wait``
  plus one connection attempt (``connect_timeout``).

Each decision is counted (:class:`ReplicaStats`) and logged on the
``sqlrecord.replicas`` logger.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import random
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine

from ._begin import autocommit_bind
from ._replica_positions import Position, Positions, ReplicaState, positions_for
from ._urls import with_async_driver
from .exceptions import ConfigurationError

__all__ = ["Replica", "ReplicaSet", "ReplicaStats", "ReplicaUsage", "Replicas"]

logger = logging.getLogger("sqlrecord.replicas")

Policy = Literal["round_robin", "random"]


@dataclass(frozen=True)
class Replicas:
    """The read replicas of a :class:`~sqlrecord.Database`, and how reads use them.

    ``Database(url, replicas=[url1, url2])`` takes the defaults; pass a
    ``Replicas(...)`` to change them.

    Args:
        urls: one async URL per replica (the same driver as the primary's).
        policy: ``"round_robin"`` (the default) or ``"random"``.
        weights: one positive weight per replica (default: equal).
        max_lag: a replica more than this many seconds behind leaves the rotation.
        wait: how long a read that must see an earlier write waits for a replica to
            replay it, before the primary serves it instead.
        window: where positions cannot be compared (a driver or database sqlrecord
            cannot ask), how long after a write the writer's reads keep to the primary.
        retry_after: how long a replica that failed or lagged stays out of rotation.
        check_every: how often (seconds) a replica in use is asked its lag and state.
        connect_timeout: how long a connection attempt to a replica may take.
        engine_options: more keyword arguments for each replica's engine (default:
            the primary's ``engine_options``).

    Example:
        >>> replicas = Replicas(["sqlite+aiosqlite:///replica.db"], max_lag=5)
        >>> replicas.policy, replicas.max_lag
        ('round_robin', 5)
    """

    urls: Sequence[str | URL]
    policy: Policy = "round_robin"
    weights: Sequence[float] | None = None
    max_lag: float = 10.0
    wait: float = 0.5
    window: float = 2.0
    retry_after: float = 5.0
    check_every: float = 1.0
    connect_timeout: float = 2.0
    engine_options: Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        if isinstance(self.urls, str | URL) or not self.urls:
            raise ConfigurationError(
                "Replicas takes a list of replica URLs: Replicas(['postgresql+asyncpg://...'])."
            )
        if self.policy not in ("round_robin", "random"):
            raise ConfigurationError(
                f"Replicas(policy=...) is 'round_robin' or 'random', not {self.policy!r}."
            )
        if self.weights is not None and (
            len(self.weights) != len(self.urls) or any(w <= 0 for w in self.weights)
        ):
            raise ConfigurationError(
                "Replicas(weights=...) takes one positive number per replica URL."
            )
        for name in ("max_lag", "wait", "window", "retry_after", "check_every"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise ConfigurationError(f"Replicas({name}=...) takes seconds >= 0, not {value!r}.")


@dataclass
class ReplicaUsage:
    """One replica's counters (in :class:`ReplicaStats`).

    Example:
        >>> ReplicaUsage("postgresql+asyncpg://replica1/app", reads=3).reads
        3
    """

    #: The replica's URL, password hidden.
    url: str
    #: Reads it served.
    reads: int = 0
    #: Times it failed (a connection that could not be made or broke) or lagged too far.
    failures: int = 0
    #: Whether it is in rotation now.
    in_rotation: bool = True
    #: Its lag in seconds at the last check (``None``: not checked, or it could not tell).
    lag: float | None = None


@dataclass
class ReplicaStats:
    """What the routing decided, since the database was configured (``db.replica_stats()``).

    Example:
        >>> stats = ReplicaStats()
        >>> stats.replica_reads, stats.primary_reads
        (0, 0)
    """

    #: One entry per replica, in the order given.
    replicas: list[ReplicaUsage] = field(default_factory=list)
    #: Reads the primary served though they could have gone to a replica, by reason:
    #: ``forced`` (``db.primary()``), ``behind`` (no replica had replayed the reader's
    #: writes in time), ``window`` (within the fixed window after a write), ``unavailable``
    #: (no replica in rotation, or the one that served the read broke during it).
    primary_reads: int = 0
    primary_reasons: dict[str, int] = field(default_factory=dict)
    #: Reads that waited for a replica to replay the reader's writes, and the seconds
    #: they waited in all.
    waits: int = 0
    waited_seconds: float = 0.0

    @property
    def replica_reads(self) -> int:
        """Reads the replicas served.

        Example:
            >>> ReplicaStats([ReplicaUsage("a", reads=2), ReplicaUsage("b", reads=3)]).replica_reads
            5
        """
        return sum(usage.reads for usage in self.replicas)


class Replica:
    """One replica: its engines and what the last check found."""

    def __init__(self, owner: ReplicaSet, url: URL, engine: AsyncEngine, weight: float) -> None:
        self.owner = owner
        self.url = url
        self.engine = engine
        #: Statements that commit themselves (``_begin.autocommit_bind``): a read needs
        #: no transaction of its own.
        self.autocommit = autocommit_bind(engine)
        self.weight = weight
        self.usage = ReplicaUsage(url.render_as_string(hide_password=True))
        self.out_until = 0.0
        self.checked_at = -float("inf")
        self.position: Position | None = None

    def __repr__(self) -> str:
        return f"Replica({self.usage.url})"

    def failed(self, error: BaseException) -> None:
        """A read this replica served failed (it could not be reached, or broke): out of
        rotation; the read runs again elsewhere, so it does not count as served."""
        self.usage.reads -= 1
        self.owner.failed(self, error)


class ReplicaSet:
    """The replicas of one database and the choice of one for a read."""

    def __init__(
        self,
        config: Replicas,
        *,
        primary: AsyncEngine,
        build_engine: Callable[[URL, dict[str, Any]], AsyncEngine],
    ) -> None:
        """``build_engine(url, connect_args)``: a replica's engine with the primary's
        settings (``_engine.build_engine``), connecting with ``connect_args``."""
        self.config = config
        self._primary = primary
        weights = config.weights or [1.0] * len(config.urls)
        self.replicas: list[Replica] = []
        backend = primary.url.get_backend_name()
        for raw, weight in zip(config.urls, weights, strict=True):
            url = with_async_driver(raw, like=primary.url)
            if url.get_backend_name() != backend:
                raise ConfigurationError(
                    f"The replica {url.render_as_string(hide_password=True)!r} is not a "
                    f"{backend} URL like its primary's: give each replica the URL of a "
                    "replica of that primary."
                )
            engine = build_engine(url, _read_only_connect_args(url, config.connect_timeout))
            self.replicas.append(Replica(self, url, engine, float(weight)))
        self.stats = ReplicaStats(replicas=[replica.usage for replica in self.replicas])
        self._turns = itertools.count()
        self._positions: Positions | Literal[False] | None = False  # False: not known yet
        self._order = [
            index
            for index, replica in enumerate(self.replicas)
            for _ in range(max(1, round(replica.weight / min(weights))))
        ]

    # -- positions -----------------------------------------------------------

    def positions(self) -> Positions | None:
        """The database's positions, once a connection to the primary has told which
        database it is (MariaDB and MySQL share a dialect until then)."""
        if self._positions is False:
            dialect = self._primary.dialect
            if dialect.name == "mysql" and getattr(dialect, "server_version_info", None) is None:
                return None
            self._positions = positions_for(dialect)
        return self._positions

    # -- choosing ------------------------------------------------------------

    def _candidates(self) -> Iterator[Replica]:
        """The replicas in rotation, in the order the policy tries them."""
        now = time.monotonic()
        if self.config.policy == "random":
            weights = [replica.weight for replica in self.replicas]
            first = random.choices(range(len(self.replicas)), weights=weights)[0]
            indexes = [first, *(i for i in range(len(self.replicas)) if i != first)]
        else:
            start = next(self._turns) % len(self._order)
            seen: set[int] = set()
            indexes = []
            for index in self._order[start:] + self._order[:start]:
                if index not in seen:
                    seen.add(index)
                    indexes.append(index)
        for index in indexes:
            replica = self.replicas[index]
            if replica.out_until <= now:
                yield replica

    async def choose(self, wanted: Position | None) -> Replica | None:
        """A replica to read from that has replayed ``wanted`` (``None``: any), or
        ``None`` for the primary (the reason counted)."""
        behind: list[Replica] = []
        for replica in self._candidates():
            if not await self._checked(replica):
                continue
            if wanted is None or self._reached(replica, wanted):
                return replica
            behind.append(replica)
        if not behind:
            self.primary_read("unavailable")
            return None
        assert wanted is not None
        found = await self._wait_for(behind, wanted)
        if found is None:
            self.primary_read("behind")
        return found

    def _reached(self, replica: Replica, wanted: Position) -> bool:
        positions = self.positions()
        return positions is not None and positions.reached(replica.position, wanted)

    async def _wait_for(self, behind: list[Replica], wanted: Position) -> Replica | None:
        """Wait up to ``wait`` seconds for one of ``behind`` to replay ``wanted``."""
        positions = self.positions()
        if positions is None or self.config.wait <= 0:
            return None
        started = time.monotonic()
        deadline = started + self.config.wait
        try:
            if positions.can_wait_on_server:
                replica = behind[0]
                try:
                    async with replica.autocommit.connect() as connection:
                        if await positions.wait(connection, wanted, self.config.wait):
                            replica.position = wanted
                            return replica
                except Exception as error:  # the replica failed while waiting
                    self.failed(replica, error)
                return None
            pause = 0.001
            while True:
                for replica in behind:
                    try:
                        async with replica.autocommit.connect() as connection:
                            replica.position = await positions.replayed(connection)
                    except Exception as error:
                        self.failed(replica, error)
                        continue
                    if positions.reached(replica.position, wanted):
                        return replica
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                await asyncio.sleep(min(pause, remaining))
                pause = min(pause * 2, 0.05)
        finally:
            self.stats.waits += 1
            self.stats.waited_seconds += time.monotonic() - started

    async def _checked(self, replica: Replica) -> bool:
        """Check ``replica`` if its last check is older than ``check_every``; whether it
        stays in rotation."""
        now = time.monotonic()
        if now - replica.checked_at < self.config.check_every:
            return True
        replica.checked_at = now
        try:
            async with replica.autocommit.connect() as connection:
                positions = self.positions()
                state = (
                    await positions.replica(connection)
                    if positions is not None
                    else ReplicaState(position=None, lag=0.0, replicating=True)
                )
        except Exception as error:
            self.failed(replica, error)
            return False
        replica.position = state.position
        replica.usage.lag = state.lag
        if not state.replicating or (state.lag is not None and state.lag > self.config.max_lag):
            why = "is not replicating" if not state.replicating else f"lags {state.lag:.1f} s"
            self._take_out(replica, why)
            return False
        if not replica.usage.in_rotation:
            replica.usage.in_rotation = True
            logger.info("sqlrecord: the replica %s is back in rotation", replica.usage.url)
        return True

    # -- outcomes ------------------------------------------------------------

    def served(self, replica: Replica) -> None:
        """Count a read ``replica`` served."""
        replica.usage.reads += 1

    def primary_read(self, reason: str) -> None:
        """Count a read the primary served instead of a replica, and why."""
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("sqlrecord: a read goes to the primary (%s)", reason)
        self.stats.primary_reads += 1
        self.stats.primary_reasons[reason] = self.stats.primary_reasons.get(reason, 0) + 1

    def failed(self, replica: Replica, error: BaseException) -> None:
        """``replica`` could not be reached or broke: out of rotation for a while."""
        self._take_out(replica, f"failed ({type(error).__name__}: {error})")

    def _take_out(self, replica: Replica, why: str) -> None:
        replica.usage.failures += 1
        replica.out_until = time.monotonic() + self.config.retry_after
        replica.checked_at = -float("inf")  # checked again before its next read
        if replica.usage.in_rotation:
            replica.usage.in_rotation = False
            logger.warning(
                "sqlrecord: the replica %s %s; it leaves the rotation and is tried "
                "again in %.0f s (reads go to the other replicas or the primary)",
                replica.usage.url,
                why,
                self.config.retry_after,
            )

    async def dispose(self) -> None:
        """Close every replica's pooled connections."""
        for replica in self.replicas:
            await replica.engine.dispose()


def _read_only_connect_args(url: URL, timeout: float) -> dict[str, Any]:
    """Connection settings that make every transaction on a replica read-only (so that a
    write sent there by mistake fails, even where the replica itself would take it, as
    MariaDB's ``read_only`` does from a user with SUPER) and bound the connection attempt."""
    driver = url.get_driver_name()
    if driver == "asyncpg":
        return {"server_settings": {"default_transaction_read_only": "on"}, "timeout": timeout}
    if driver == "psycopg":
        return {
            "options": "-c default_transaction_read_only=on",
            "connect_timeout": max(1, round(timeout)),
        }
    if driver in ("aiomysql", "asyncmy"):
        return {"init_command": "SET SESSION TRANSACTION READ ONLY", "connect_timeout": timeout}
    return {}
