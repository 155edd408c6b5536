"""How far a server has got: the primary's position after a commit, a replica's replayed
position and lag, per database, and whether one position has reached another.

PostgreSQL names a point in its write-ahead log by an LSN (``16/B374D848``): the
primary's ``pg_current_wal_lsn()`` read after a commit is at or past that commit, and
a standby that has replayed that far (``pg_last_wal_replay_lsn()``) shows it.
MariaDB names each transaction by a GTID per replication domain (``0-1-4711``): the
primary's ``@@gtid_binlog_pos`` after a commit, a replica's ``@@gtid_slave_pos``; the
replica can also wait for a position itself (``MASTER_GTID_WAIT``). Other databases
(MySQL's GTID sets are another format) have no :class:`Positions`: their reads after
a write keep to the primary for a fixed window instead (``_replicas.py``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

__all__ = ["Position", "Positions", "ReplicaState", "positions_for"]

#: A position, comparable within one database kind: an LSN as an int on PostgreSQL,
#: ``{domain: sequence}`` on MariaDB.
Position = int | Mapping[int, int]


@dataclass(frozen=True, slots=True)
class ReplicaState:
    """What a replica said about itself in one check."""

    #: How far it has replayed (``None``: it has replayed nothing yet).
    position: Position | None
    #: Seconds behind its primary; ``None`` when it cannot tell (not replicating).
    lag: float | None
    #: Whether it is a replica that receives changes now.
    replicating: bool


class Positions:
    """One database kind's positions (subclassed per kind)."""

    kind = ""

    async def primary(self, connection: AsyncConnection) -> Position:
        """The primary's position now: at or past every commit that has returned."""
        raise NotImplementedError

    async def replica(self, connection: AsyncConnection) -> ReplicaState:
        """A replica's replayed position, lag and state."""
        raise NotImplementedError

    async def replayed(self, connection: AsyncConnection) -> Position | None:
        """A replica's replayed position alone (the cheap check while waiting)."""
        return (await self.replica(connection)).position

    async def wait(self, connection: AsyncConnection, wanted: Position, seconds: float) -> bool:
        """Wait on the replica, up to ``seconds``, until it has replayed ``wanted``;
        whether it did. Only where :attr:`can_wait_on_server` (elsewhere the caller
        asks :meth:`replayed` again)."""
        raise NotImplementedError

    can_wait_on_server = False

    @staticmethod
    def reached(position: Position | None, wanted: Position) -> bool:
        """Whether ``position`` is at or past ``wanted``."""
        raise NotImplementedError

    def encode(self, position: Position) -> str:
        """``position`` as text, for a token a client carries."""
        raise NotImplementedError

    def decode(self, text: str) -> Position | None:
        """A position from :meth:`encode`'s text; ``None`` when it is not one."""
        raise NotImplementedError


_LSN = re.compile(r"^([0-9A-Fa-f]{1,8})/([0-9A-Fa-f]{1,8})$")


def _lsn(text: object) -> int | None:
    match = _LSN.match(str(text)) if text is not None else None
    if match is None:
        return None
    return (int(match.group(1), 16) << 32) | int(match.group(2), 16)


class _PostgresPositions(Positions):
    kind = "postgresql"

    async def primary(self, connection: AsyncConnection) -> Position:
        # ::text: asyncpg has no decoder of its own for pg_lsn.
        result = await connection.exec_driver_sql("SELECT pg_current_wal_lsn()::text")
        found = _lsn(result.scalar())
        if found is None:  # a standby asked as if a primary: nothing is comparable
            raise LookupError("pg_current_wal_lsn() gave no position")
        return found

    async def replica(self, connection: AsyncConnection) -> ReplicaState:
        # Lag in time: 0 when everything received is replayed (an idle primary sends
        # nothing, and the last replay's age would grow without any lag), else the age of
        # the last replayed transaction. Replicating: a WAL receiver is streaming.
        row = (
            await connection.exec_driver_sql(
                "SELECT pg_is_in_recovery(), pg_last_wal_replay_lsn()::text, "
                "CASE WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0 "
                "ELSE EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()) END, "
                "EXISTS (SELECT 1 FROM pg_stat_wal_receiver WHERE status = 'streaming')"
            )
        ).one()
        in_recovery, replayed, lag, streaming = tuple(row)
        return ReplicaState(
            position=_lsn(replayed),
            lag=None if lag is None else float(lag),
            replicating=bool(in_recovery) and bool(streaming),
        )

    async def replayed(self, connection: AsyncConnection) -> Position | None:
        return _lsn(
            (await connection.exec_driver_sql("SELECT pg_last_wal_replay_lsn()::text")).scalar()
        )

    @staticmethod
    def reached(position: Position | None, wanted: Position) -> bool:
        if not isinstance(position, int) or not isinstance(wanted, int):
            return False
        return position >= wanted

    def encode(self, position: Position) -> str:
        assert isinstance(position, int)
        return f"{position >> 32:X}/{position & 0xFFFFFFFF:X}"

    def decode(self, text: str) -> Position | None:
        return _lsn(text)


_GTID = re.compile(r"^(\d{1,10})-(\d{1,10})-(\d{1,20})$")


def _gtids(text: object) -> dict[int, int] | None:
    """``{domain: sequence}`` of a MariaDB GTID position (``0-1-10,1-2-5``)."""
    if text is None:
        return None
    found: dict[int, int] = {}
    for part in str(text).split(","):
        part = part.strip()
        if not part:
            continue
        match = _GTID.match(part)
        if match is None:
            return None
        found[int(match.group(1))] = int(match.group(3))
    return found


def _gtid_text(position: Mapping[int, int], servers: Mapping[int, int] | None = None) -> str:
    return ",".join(f"{d}-{(servers or {}).get(d, 0)}-{s}" for d, s in sorted(position.items()))


class _MariaDBPositions(Positions):
    kind = "mariadb"
    can_wait_on_server = True

    async def primary(self, connection: AsyncConnection) -> Position:
        found = _gtids((await connection.exec_driver_sql("SELECT @@gtid_binlog_pos")).scalar())
        if found is None:
            raise LookupError("@@gtid_binlog_pos gave no position")
        return found

    async def replica(self, connection: AsyncConnection) -> ReplicaState:
        position = _gtids((await connection.exec_driver_sql("SELECT @@gtid_slave_pos")).scalar())
        status = (await connection.exec_driver_sql("SHOW SLAVE STATUS")).mappings().first()
        if status is None:  # not a replica at all
            return ReplicaState(position=position, lag=None, replicating=False)
        running = status.get("Slave_IO_Running") == "Yes" and (
            status.get("Slave_SQL_Running") == "Yes"
        )
        behind = status.get("Seconds_Behind_Master")
        return ReplicaState(
            position=position,
            lag=None if behind is None else float(behind),
            replicating=running,
        )

    async def replayed(self, connection: AsyncConnection) -> Position | None:
        return _gtids((await connection.exec_driver_sql("SELECT @@gtid_slave_pos")).scalar())

    async def wait(self, connection: AsyncConnection, wanted: Position, seconds: float) -> bool:
        assert not isinstance(wanted, int)
        # MASTER_GTID_WAIT compares sequence numbers per domain; the server id in the
        # text is not compared, so 0 stands for it.
        result = (
            await connection.exec_driver_sql(
                "SELECT MASTER_GTID_WAIT(%s, %s)", (_gtid_text(wanted), float(seconds))
            )
        ).scalar()
        return result == 0

    @staticmethod
    def reached(position: Position | None, wanted: Position) -> bool:
        if position is None or isinstance(position, int) or isinstance(wanted, int):
            return False
        return all(position.get(domain, -1) >= sequence for domain, sequence in wanted.items())

    def encode(self, position: Position) -> str:
        assert not isinstance(position, int)
        return _gtid_text(position)

    def decode(self, text: str) -> Position | None:
        return _gtids(text)


def positions_for(dialect: Any) -> Positions | None:
    """The positions of ``dialect``'s database, or ``None`` when it has none sqlrecord reads.

    Example:
        >>> from sqlalchemy.dialects import postgresql, sqlite
        >>> positions_for(postgresql.dialect()).kind
        'postgresql'
        >>> positions_for(sqlite.dialect()) is None
        True
    """
    if dialect.name == "postgresql":
        return _PostgresPositions()
    if dialect.name in ("mysql", "mariadb") and getattr(dialect, "is_mariadb", False):
        return _MariaDBPositions()
    return None
