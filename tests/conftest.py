"""Database fixtures: every test that asks for ``db`` runs on SQLite, and on
PostgreSQL and MariaDB when their URLs are set (``.ci/run`` sets them), once per
driver whose URL is set: asyncpg and psycopg, aiomysql and asyncmy.

Isolation: tests that only use a served ``session`` run inside a transaction
that is rolled back; tests that commit through own sessions are followed by a
wipe of every test table. After every test the pool must have no connection
checked out.
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from sqlrecord import Database

from .models import ALL_METADATA

# Frozen at import: examples elsewhere (doctests) may add tables to the same
# metadata later, and those must not be created or wiped here.
TEST_TABLES = {metadata: list(metadata.sorted_tables) for metadata in ALL_METADATA}

POSTGRES_ENV = "SQLRECORD_TEST_POSTGRES_URL"
MYSQL_ENV = "SQLRECORD_TEST_MYSQL_URL"

#: Each server backend and the variable that holds its URL: PostgreSQL and MariaDB through
#: the extras' drivers (asyncpg, aiomysql), then through the other drivers sqlrecord
#: supports (psycopg 3, asyncmy), whose backend ids name the driver.
SERVER_URL_ENVS = {
    "postgresql": POSTGRES_ENV,
    "mysql": MYSQL_ENV,
    "postgresql-psycopg": "SQLRECORD_TEST_POSTGRES_PSYCOPG_URL",
    "mysql-asyncmy": "SQLRECORD_TEST_MYSQL_ASYNCMY_URL",
}
#: The driver each server backend's URL must name: a URL of another driver would
#: test the wrong one under the right name.
BACKEND_DRIVERS = {
    "postgresql": "asyncpg",
    "mysql": "aiomysql",
    "postgresql-psycopg": "psycopg",
    "mysql-asyncmy": "asyncmy",
}

#: The backends of the other drivers. They run the suites that exercise the driver
#: (types, errors, cancellation, faults, the fast paths' SQL) but not those marked
#: ``driver_agnostic`` (the differential harness, the control-keyword fuzzing): their
#: thousands of cases check sqlrecord's own logic per database, which the driver does
#: not change, and would add minutes per driver to CI. SQLRECORD_TEST_ALL_DRIVERS=1
#: runs those on every driver too.
OTHER_DRIVER_BACKENDS = ("postgresql-psycopg", "mysql-asyncmy")
ALL_SUITES_ON_ALL_DRIVERS = bool(os.environ.get("SQLRECORD_TEST_ALL_DRIVERS"))


def _backends() -> list[str]:
    if os.environ.get("SQLRECORD_TEST_REQUIRE_ALL"):
        missing = [name for name in SERVER_URL_ENVS.values() if not os.environ.get(name)]
        if missing:
            raise pytest.UsageError(f"SQLRECORD_TEST_REQUIRE_ALL is set but {missing} are not.")
    backends = ["sqlite"]
    for backend, variable in SERVER_URL_ENVS.items():
        url = os.environ.get(variable)
        if not url:
            continue
        driver = make_url(url).get_driver_name()
        if driver != BACKEND_DRIVERS[backend]:
            raise pytest.UsageError(
                f"{variable} names the driver {driver!r}; it must be "
                f"{BACKEND_DRIVERS[backend]!r} (the other drivers have variables of their own)."
            )
        backends.append(backend)
    return backends


BACKENDS = _backends()
#: The backends the ``driver_agnostic`` suites run on.
AGNOSTIC_BACKENDS = [
    backend
    for backend in BACKENDS
    if ALL_SUITES_ON_ALL_DRIVERS or backend not in OTHER_DRIVER_BACKENDS
]


#: One part of the suite (scripts/test runs two side by side with SQLRECORD_TEST_PARTS=2):
#: "postgresql-sqlite", every test on PostgreSQL (each driver, the differential harness, the
#: Notification API's suite there) and those on SQLite but the differential harness's;
#: "mariadb-rest", the tests on MariaDB, SQLite's differential cases, and those that name no
#: backend (the doctests among them); "restarts", the server restarts alone. A test may cut
#: every other connection to its server's database, so each server's tests share one
#: process. The split puts about as many minutes in each part (measured in CI: 7.7 on
#: PostgreSQL and 3.7 on SQLite beside 7.7 on MariaDB, 2.4 of SQLite's differential cases
#: and 2.4 without a database).
PART = os.environ.get("SQLRECORD_TEST_PART", "")
PARTS = ("postgresql-sqlite", "mariadb-rest", "restarts")
if PART not in ("", *PARTS):
    raise pytest.UsageError(f"SQLRECORD_TEST_PART must be one of {PARTS}, not {PART!r}.")


def _in_part(item: pytest.Item, params: dict[str, Any]) -> bool:
    if "restartable_db" in getattr(item, "fixturenames", ()):
        return PART in ("", "restarts")
    backends = [value for value in params.values() if isinstance(value, str)]
    on_postgresql = any(value.startswith("postgresql") for value in backends)
    on_sqlite = any(value.startswith("sqlite") for value in backends)
    differential = "differential" in item.path.parts
    first = on_postgresql or (on_sqlite and not differential)
    return PART in ("", "postgresql-sqlite" if first else "mariadb-rest")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Leave the ``driver_agnostic`` tests out on the other drivers (see above), and the
    tests of the other parts out (``SQLRECORD_TEST_PART``)."""
    kept, left_out = [], []
    for item in items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        agnostic_elsewhere = (
            not ALL_SUITES_ON_ALL_DRIVERS
            and item.get_closest_marker("driver_agnostic") is not None
            and bool({params.get("db"), params.get("server_db")} & set(OTHER_DRIVER_BACKENDS))
        )
        if agnostic_elsewhere or not _in_part(item, params):
            left_out.append(item)
        else:
            kept.append(item)
    if left_out:
        config.hook.pytest_deselected(items=left_out)
        items[:] = kept


def backend_url(backend: str, sqlite_file: Path) -> str:
    """The URL of ``backend`` (a SQLite file at ``sqlite_file``, a server from its variable)."""
    if backend == "sqlite":
        return f"sqlite+aiosqlite:///{sqlite_file}"
    return os.environ[SERVER_URL_ENVS[backend]]


def _url(backend: str, tmp: Path) -> str:
    return backend_url(backend, tmp / "sqlrecord-test.db")


@pytest.fixture(scope="session")
def sqlite_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("sqlite")


_databases: dict[str, Database] = {}


def backend_of(database: Database) -> str:
    """The backend id (``postgresql-psycopg``, ...) of a database the fixtures made, else
    its dialect's name: figures are counted per driver."""
    for backend, made in _databases.items():
        if made is database:
            return backend
    return database.engine.dialect.name


async def _prepared(backend: str, tmp: Path) -> Database:
    if backend not in _databases:
        database = Database(_url(backend, tmp), default=False)
        try:
            async with database.engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
        except Exception as error:  # an unreachable server fails the run, never skips
            await database.dispose()
            pytest.fail(f"{backend} at {database.url!r} is unreachable: {error}", pytrace=False)
        async with database.engine.begin() as connection:
            for metadata, tables in TEST_TABLES.items():
                await connection.run_sync(metadata.drop_all, tables=tables)
                await connection.run_sync(metadata.create_all, tables=tables)
        _databases[backend] = database
    return _databases[backend]


async def _serve(backend: str, sqlite_dir: Path) -> AsyncIterator[Database]:
    database = await _prepared(backend, sqlite_dir)
    database.make_default()
    try:
        yield database
    finally:
        checked_out = database.checked_out()
        await _wipe(database)
        assert checked_out == 0, f"{checked_out} connection(s) left checked out"


@pytest.fixture(params=BACKENDS)
async def db(request: pytest.FixtureRequest, sqlite_dir: Path) -> AsyncIterator[Database]:
    """A Database on each backend, made the default for the test models."""
    async for database in _serve(request.param, sqlite_dir):
        yield database


@pytest.fixture(params=[backend for backend in BACKENDS if backend != "sqlite"])
async def server_db(request: pytest.FixtureRequest, sqlite_dir: Path) -> AsyncIterator[Database]:
    """Like ``db``, for the database servers only (faults need a server to fail)."""
    async for database in _serve(request.param, sqlite_dir):
        yield database


@pytest.fixture(params=[backend for backend in BACKENDS if backend.startswith("mysql")])
async def mysql_db(request: pytest.FixtureRequest, sqlite_dir: Path) -> AsyncIterator[Database]:
    """Like ``db``, for MySQL/MariaDB only, through each of its drivers."""
    async for database in _serve(request.param, sqlite_dir):
        yield database


# A real restart stops the whole server, so only where the command is given
# (.ci/run gives both); a developer sharing a server leaves them unset.
RESTART_COMMANDS = {
    backend: os.environ[variable]
    for backend, variable in (
        ("postgresql", "SQLRECORD_TEST_POSTGRES_RESTART"),
        ("mysql", "SQLRECORD_TEST_MYSQL_RESTART"),
    )
    if backend in BACKENDS and os.environ.get(variable)
}


@pytest.fixture(params=sorted(RESTART_COMMANDS))
async def restartable_db(
    request: pytest.FixtureRequest, sqlite_dir: Path
) -> AsyncIterator[tuple[Database, str]]:
    """A server database with the shell command that restarts its server."""
    async for database in _serve(request.param, sqlite_dir):
        yield database, RESTART_COMMANDS[request.param]


# -- reliability figures -----------------------------------------------------------

# scripts/test-versions sends each combination's figures elsewhere.
FIGURES_DIR = Path(
    os.environ.get("SQLRECORD_TEST_FIGURES_DIR")
    or Path(__file__).resolve().parent.parent / "var" / "reliability"
)
FIGURE_COLUMNS = (
    "operations",
    "concurrent_tasks",
    "faults_injected",
    "bad_inputs",
    "rows_lost",
    "rows_changed_by_rejected",
    "connections_leaked",
    "untyped_errors",
    "server_errors",
    "schema_violations",
)
# The bad-input suites (tests/bad_input_figures.py) write JSON with their own
# columns; this is how they count in the summary.
_FOREIGN_COLUMNS = {
    "inputs": "bad_inputs",
    "requests": "operations",
    "raw_errors": "untyped_errors",
    "rows_changed_by_rejected": "rows_changed_by_rejected",
    "server_errors": "server_errors",
    "violations": "schema_violations",
}


def record_figures(suite: str, database: str, **figures: int) -> None:
    """Append one row of figures (see FIGURE_COLUMNS) to var/reliability/<suite>.jsonl."""
    FIGURES_DIR.mkdir(parents=True, exist_ok=True)
    row = {"suite": suite, "database": database, **figures}
    with (FIGURES_DIR / f"{suite}.jsonl").open("a", encoding="utf-8") as out:
        out.write(json.dumps(row) + "\n")


def record_replica_figures(database: str, **figures: int) -> None:
    """Append figures of the replica suites (tests/test_replicas.py) to
    var/reliability/replicas.figures; the run's summary prints them."""
    FIGURES_DIR.mkdir(parents=True, exist_ok=True)
    with (FIGURES_DIR / "replicas.figures").open("a", encoding="utf-8") as out:
        out.write(json.dumps({"database": database, **figures}) + "\n")


def pytest_sessionstart(session: pytest.Session) -> None:
    for stale in [*FIGURES_DIR.glob("*.jsonl"), *FIGURES_DIR.glob("*.json")]:
        stale.unlink()
    (FIGURES_DIR / "replicas.figures").unlink(missing_ok=True)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    replica_figures = FIGURES_DIR / "replicas.figures"
    if replica_figures.exists():
        terminalreporter.write_sep("=", "replica figures")
        for line in replica_figures.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            figures = ", ".join(f"{key}={value}" for key, value in row.items() if key != "database")
            terminalreporter.write_line(f"{row['database']}: {figures}")
    rows = [
        json.loads(line)
        for path in sorted(FIGURES_DIR.glob("*.jsonl"))
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
    for path in sorted(FIGURES_DIR.glob("*.json")):
        suite = json.loads(path.read_text(encoding="utf-8"))
        for database, counts in suite.get("databases", {}).items():
            if database in BACKENDS:
                row = {"database": database}
                for theirs, ours in _FOREIGN_COLUMNS.items():
                    row[ours] = row.get(ours, 0) + int(counts.get(theirs, 0))
                rows.append(row)
    if not rows:
        return
    totals: dict[str, dict[str, int]] = {}
    for row in rows:
        bucket = totals.setdefault(row["database"], dict.fromkeys(FIGURE_COLUMNS, 0))
        for column in FIGURE_COLUMNS:
            bucket[column] += int(row.get(column, 0))
    terminalreporter.write_sep("=", "reliability summary")
    terminalreporter.write_line("| database | " + " | ".join(FIGURE_COLUMNS) + " |")
    terminalreporter.write_line("|---" * (len(FIGURE_COLUMNS) + 1) + "|")
    for database, bucket in sorted(totals.items()):
        cells = " | ".join(str(bucket[column]) for column in FIGURE_COLUMNS)
        terminalreporter.write_line(f"| {database} | {cells} |")


async def _wipe(database: Database) -> None:
    try:
        await _delete_all(database)
    except DBAPIError as error:
        # A fault test killed this pool's connections a moment ago; they are not
        # pinged (used too recently), so the first use fails, as in an app, and the
        # pool replaces them: the second attempt runs on fresh connections.
        if not error.connection_invalidated:
            raise
        await _delete_all(database)


async def _delete_all(database: Database) -> None:
    async with database.engine.begin() as connection:
        for tables in TEST_TABLES.values():
            for table in reversed(tables):
                await connection.execute(table.delete())


@pytest.fixture
async def session(db: Database) -> AsyncIterator[AsyncSession]:
    """A served session inside a transaction that is rolled back after the test."""
    async with db.engine.connect() as connection:
        transaction = await connection.begin()
        async with AsyncSession(
            bind=connection,
            expire_on_commit=False,
            autoflush=False,
            join_transaction_mode="create_savepoint",
        ) as served:
            yield served
        await transaction.rollback()


@pytest.fixture(scope="session", autouse=True)
async def _dispose_databases() -> AsyncIterator[None]:
    yield
    for database in _databases.values():
        await database.dispose()
