"""Where the benchmarks run: one database per target, loopback only, never the test databases."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

__all__ = ["POOL_SIZE", "TARGETS", "Target", "contestant_target", "target"]

#: Connections every contestant may hold (SQLAlchemy pool_size, driver and Tortoise pools).
POOL_SIZE = 10

_ROOT = Path(__file__).resolve().parent.parent
SQLITE_PATH = _ROOT / "var" / "bench" / "bench.sqlite"


@dataclass(frozen=True)
class Target:
    """A database server (or SQLite file) and how each kind of client reaches it."""

    name: str
    sqlalchemy_url: str
    tortoise_url: str
    host: str = "127.0.0.1"
    port: int = 0
    user: str = ""
    database: str = "bench"
    path: Path = SQLITE_PATH

    @property
    def sqlite_path(self) -> Path:
        """The SQLite file (SQLite target only)."""
        return self.path


TARGETS: dict[str, Target] = {
    "sqlite": Target(
        name="sqlite",
        sqlalchemy_url=f"sqlite+aiosqlite:///{SQLITE_PATH}",
        tortoise_url=f"sqlite://{SQLITE_PATH}",
    ),
    "postgres": Target(
        name="postgres",
        sqlalchemy_url="postgresql+asyncpg://postgres@127.0.0.1:5432/bench",
        tortoise_url=(
            f"postgres://postgres@127.0.0.1:5432/bench?minsize={POOL_SIZE}&maxsize={POOL_SIZE}"
        ),
        port=5432,
        user="postgres",
    ),
    "mysql": Target(
        name="mysql",
        sqlalchemy_url="mysql+aiomysql://root@127.0.0.1:3306/bench?charset=utf8mb4",
        tortoise_url=(
            f"mysql://root:@127.0.0.1:3306/bench?minsize={POOL_SIZE}&maxsize={POOL_SIZE}"
            "&charset=utf8mb4"
        ),
        port=3306,
        user="root",
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
