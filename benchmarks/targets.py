"""Where the benchmarks run: one database per target, loopback only, never the test databases."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

__all__ = ["POOL_SIZE", "TARGETS", "Target", "contestant_target", "target"]

#: Connections every contestant may hold (SQLAlchemy pool_size, driver and Tortoise pools).
POOL_SIZE = 10

#: The parameters of a Tortoise URL that size its pool.
_TORTOISE_POOL = ("minsize", "maxsize")

_ROOT = Path(__file__).resolve().parent.parent
SQLITE_PATH = _ROOT / "var" / "bench" / "bench.sqlite"
#: The servers' database (scripts/bench creates it): ``bench``, or another where several
#: people share the servers (SQLRECORD_BENCH_DATABASE, read by scripts/bench too).
DATABASE = os.environ.get("SQLRECORD_BENCH_DATABASE", "bench")


@dataclass(frozen=True)
class Target:
    """A database server (or SQLite file) and how each kind of client reaches it."""

    name: str
    sqlalchemy_url: str
    tortoise_url: str
    host: str = "127.0.0.1"
    port: int = 0
    user: str = ""
    database: str = DATABASE
    path: Path = SQLITE_PATH
    #: The same database through the other drivers sqlrecord supports: driver -> URL.
    other_drivers: Mapping[str, str] = field(default_factory=dict)

    @property
    def sqlite_path(self) -> Path:
        """The SQLite file (SQLite target only)."""
        return self.path

    @property
    def tortoise_defaults_url(self) -> str:
        """``tortoise_url`` without the pool sizes: Tortoise at its own (1 to 5 connections)."""
        base, _, query = self.tortoise_url.partition("?")
        kept = [
            part for part in query.split("&") if part and part.split("=")[0] not in _TORTOISE_POOL
        ]
        return f"{base}?{'&'.join(kept)}" if kept else base

    @property
    def driverless_url(self) -> str:
        """``sqlalchemy_url`` with the driver left out (``mysql://…``), as a hosting
        platform's ``DATABASE_URL`` gives it: the defaults rows' URL, for which sqlrecord
        picks the driver its docs recommend (docs/drivers.md)."""
        backend, _, rest = self.sqlalchemy_url.partition("://")
        return f"{backend.partition('+')[0]}://{rest}"

    def url_for(self, driver: str | None) -> str:
        """The SQLAlchemy URL through ``driver`` (``None``: the target's first driver)."""
        return self.sqlalchemy_url if driver is None else self.other_drivers[driver]


TARGETS: dict[str, Target] = {
    "sqlite": Target(
        name="sqlite",
        sqlalchemy_url=f"sqlite+aiosqlite:///{SQLITE_PATH}",
        tortoise_url=f"sqlite://{SQLITE_PATH}",
    ),
    "postgres": Target(
        name="postgres",
        sqlalchemy_url=f"postgresql+asyncpg://postgres@127.0.0.1:5432/{DATABASE}",
        tortoise_url=(
            f"postgres://postgres@127.0.0.1:5432/{DATABASE}?minsize={POOL_SIZE}&maxsize={POOL_SIZE}"
        ),
        port=5432,
        user="postgres",
        other_drivers={"psycopg": f"postgresql+psycopg://postgres@127.0.0.1:5432/{DATABASE}"},
    ),
    "mysql": Target(
        name="mysql",
        sqlalchemy_url=f"mysql+aiomysql://root@127.0.0.1:3306/{DATABASE}?charset=utf8mb4",
        tortoise_url=(
            f"mysql://root:@127.0.0.1:3306/{DATABASE}?minsize={POOL_SIZE}&maxsize={POOL_SIZE}"
            "&charset=utf8mb4"
        ),
        port=3306,
        user="root",
        other_drivers={
            "asyncmy": f"mysql+asyncmy://root@127.0.0.1:3306/{DATABASE}?charset=utf8mb4"
        },
    ),
}


def contestant_target(where: Target, contestant: str) -> Target:
    """Where ``contestant`` runs: on SQLite a fresh file of its own, elsewhere ``where``.

    A SQLite file keeps its journal mode (WAL, once anyone switched it), and each library
    has its own default: sqlrecord and Tortoise switch to WAL, the plain SQLAlchemy and
    driver contestants stay in SQLite's rollback journal. A file per contestant, made
    afresh, runs each at its own documented settings (docs/benchmarks.md, Method).
    """
    if where.name != "sqlite":
        return where
    path = SQLITE_PATH.with_name(f"bench-{contestant}.sqlite")
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    return replace(
        where,
        sqlalchemy_url=f"sqlite+aiosqlite:///{path}",
        tortoise_url=f"sqlite://{path}",
        path=path,
    )


def target(name: str) -> Target:
    """The target called ``name`` (sqlite, postgres or mysql)."""
    try:
        return TARGETS[name]
    except KeyError:
        raise SystemExit(f"Unknown database {name!r}: choose one of {', '.join(TARGETS)}") from None
