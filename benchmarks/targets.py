"""Where the benchmarks run: one database per target, loopback only, never the test databases."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = ["POOL_SIZE", "TARGETS", "Target", "target"]

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

    @property
    def sqlite_path(self) -> Path:
        """The SQLite file (SQLite target only)."""
        return SQLITE_PATH


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


def target(name: str) -> Target:
    """The target called ``name`` (sqlite, postgres or mysql)."""
    try:
        return TARGETS[name]
    except KeyError:
        raise SystemExit(f"Unknown database {name!r}: choose one of {', '.join(TARGETS)}") from None
