"""Fixtures of the differential harness: one ``Database`` per backend and mode on the
catalogue's own tables, a raw reader engine per backend, and the run's counts in the
terminal summary.

Backends follow the suite (SQLite always; PostgreSQL and MariaDB when their URLs
are set), except those of the other drivers (psycopg, asyncmy): the harness is
``driver_agnostic`` (tests/conftest.py says why), but for its unwatched own-session
cases, which also run on asyncmy (``driver_target``), where sqlrecord may send a
statement through the driver itself. Modes: ``default``, and
``reference`` (``Database(..., fast_paths=False)``, every call through public
SQLAlchemy API).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import AsyncAdaptedQueuePool

from sqlrecord import Database

from ..conftest import AGNOSTIC_BACKENDS, BACKENDS, OTHER_DRIVER_BACKENDS, backend_url
from .harness import TALLY
from .models import MODELS, DhBase, DhSession

# default: sqlrecord as shipped; reference: Database(..., fast_paths=False).
MODES = ["default", "reference"]
TARGETS = [f"{backend}-{mode}" for backend in AGNOSTIC_BACKENDS for mode in MODES]
# The other MySQL driver (asyncmy), for the cases where sqlrecord sends statements through
# the driver itself (``_internals.direct``): there the driver is part of what is compared.
DRIVER_TARGETS = [
    f"{backend}-default"
    for backend in BACKENDS
    if backend in OTHER_DRIVER_BACKENDS and backend.startswith("mysql")
]


def _url(backend: str, directory: Path) -> str:
    return backend_url(backend, directory / "differential.db")


_readers: dict[str, AsyncEngine] = {}
_databases: dict[str, Database] = {}


async def _reader(backend: str, directory: Path) -> AsyncEngine:
    """The raw engine: reads rows back and seeds them; created with the tables."""
    if backend not in _readers:
        # A queue pool on every SQLAlchemy release (before 2.0.38 aiosqlite's default
        # was NullPool), so that its checked-out connections can be counted.
        engine = create_async_engine(_url(backend, directory), poolclass=AsyncAdaptedQueuePool)
        try:
            async with engine.begin() as connection:
                await connection.execute(text("SELECT 1"))
                await connection.run_sync(DhBase.metadata.drop_all)
                await connection.run_sync(DhBase.metadata.create_all)
        except Exception as error:  # an unreachable server fails the run, never skips
            await engine.dispose()
            pytest.fail(f"{backend} is unreachable for the harness: {error}", pytrace=False)
        _readers[backend] = engine
    return _readers[backend]


def _database(backend: str, mode: str, directory: Path) -> Database:
    name = f"{backend}-{mode}"
    if name not in _databases:
        options: dict[str, Any] = {
            "default": False,
            "session_options": {"sync_session_class": DhSession},
        }
        if mode == "reference":
            options["fast_paths"] = False
        _databases[name] = Database(_url(backend, directory), **options)
    return _databases[name]


@pytest.fixture(scope="session")
def harness_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    # In memory where the machine has it: a case commits a dozen times, and what is
    # compared does not depend on fsync.
    shm = Path("/dev/shm")
    if not (shm.is_dir() and os.access(shm, os.W_OK)):
        yield tmp_path_factory.mktemp("differential")
        return
    directory = Path(tempfile.mkdtemp(prefix="sqlrecord-differential-", dir=shm))
    try:
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(params=TARGETS)
async def target(
    request: pytest.FixtureRequest, harness_dir: Path
) -> AsyncIterator[tuple[Database, AsyncEngine, str]]:
    """(database, raw reader, "backend-mode"); the catalogue's models work in the database."""
    async for opened in _target(request.param, harness_dir):
        yield opened


@pytest.fixture(params=DRIVER_TARGETS)
async def driver_target(
    request: pytest.FixtureRequest, harness_dir: Path
) -> AsyncIterator[tuple[Database, AsyncEngine, str]]:
    """As ``target``, on the other MySQL driver (``DRIVER_TARGETS``)."""
    async for opened in _target(request.param, harness_dir):
        yield opened


async def _target(name: str, harness_dir: Path) -> AsyncIterator[tuple[Database, AsyncEngine, str]]:
    backend, mode = name.rsplit("-", 1)  # "postgresql-psycopg-default"
    reader = await _reader(backend, harness_dir)
    database = _database(backend, mode, harness_dir)
    for model in MODELS:
        model.__database__ = database
    yield database, reader, name
    checked_out = database.checked_out() + reader.pool.checkedout()  # type: ignore[attr-defined]
    assert checked_out == 0, f"{checked_out} connection(s) left checked out"


@pytest.fixture(scope="session", autouse=True)
async def _dispose_harness_engines() -> AsyncIterator[None]:
    yield
    for database in _databases.values():
        await database.dispose()
    for engine in _readers.values():
        await engine.dispose()


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not TALLY.cases:
        return
    exercised = ", ".join(f"{key} x{count}" for key, count in sorted(TALLY.exercised.items()))
    terminalreporter.write_sep("=", "differential harness")
    terminalreporter.write_line(
        f"differential harness: {len(MODELS)} models, {len(TALLY.operations)} operations, "
        f"{TALLY.cases} cases, {TALLY.comparisons} comparisons, "
        f"{len(TALLY.divergences)} divergences "
        f"({len(TALLY.exercised)} documented differences exercised: {exercised or 'none'})"
    )
