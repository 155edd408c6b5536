"""Read replicas on real servers: a PostgreSQL primary with two streaming standbys, and a
MariaDB primary with two GTID replicas (``scripts/replicas`` starts them; ``.ci/run``
does it before the suites and sets the variables below).

Each test makes its own ``Database`` on the primary with the replicas it needs. The
replicas' own counters (PostgreSQL's ``pg_stat_user_tables``, MariaDB's ``Com_select``)
show where the reads went; a row written and read back at once shows whether a read
was stale. The figures (cycles, stale reads, shares, failover) are printed at the end
of the run and kept in ``var/reliability/replicas.jsonl``.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import String, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from sqlrecord import BaseModel, Database, Replicas
from sqlrecord.exceptions import ReadOnlyDatabaseError
from sqlrecord.fastapi import request_session

from .conftest import record_replica_figures

SETS = {
    "postgresql": (
        "SQLRECORD_TEST_REPLICA_POSTGRES_URL",
        "SQLRECORD_TEST_REPLICA_POSTGRES_REPLICAS",
        "pg",
    ),
    "mysql": ("SQLRECORD_TEST_REPLICA_MYSQL_URL", "SQLRECORD_TEST_REPLICA_MYSQL_REPLICAS", "my"),
}
CONTROL = os.environ.get("SQLRECORD_TEST_REPLICA_CONTROL")
#: A request's unit of work that commits for unsafe methods only (GETs are read-only).
RequestUnit = Annotated[AsyncSession, request_session(commit="unsafe_methods")]


def _available() -> list[str]:
    found = [name for name, (primary, _, _) in SETS.items() if os.environ.get(primary)]
    if os.environ.get("SQLRECORD_TEST_REQUIRE_REPLICAS") and (
        len(found) < len(SETS) or CONTROL is None
    ):
        raise pytest.UsageError(
            "SQLRECORD_TEST_REQUIRE_REPLICAS is set but the replica servers' variables are "
            'not: run `eval "$(scripts/replicas start)"` first.'
        )
    return found


AVAILABLE = _available()


class ReplicaNote(BaseModel):
    __tablename__ = "test_replica_notes"

    code: Mapped[str] = mapped_column(String(40), unique=True)
    body: Mapped[str] = mapped_column(String(200), default="")


class Servers:
    """One replicated database: its primary's and replicas' URLs, and the databases a
    test made on them (disposed, and checked for leaks, at the end)."""

    def __init__(self, name: str) -> None:
        primary, replicas, prefix = SETS[name]
        self.name = name
        self.primary_url = os.environ[primary]
        self.replica_urls = [url for url in os.environ[replicas].split(",") if url]
        self.prefix = prefix
        self.made: list[Database] = []

    def database(self, replicas: int = 2, **options: Any) -> Database:
        """A Database on the primary with its first ``replicas`` replicas."""
        config = Replicas(self.replica_urls[:replicas], **options) if replicas else None
        database = Database(self.primary_url, replicas=config, default=False)
        self.made.append(database)
        return database

    def engine_of(self, database: Database, index: int) -> AsyncEngine:
        assert database._replica_set is not None
        return database._replica_set.replicas[index].engine

    async def control(self, action: str, replica: int) -> float:
        """Stop or start one replica server (``scripts/replicas``); the seconds it took."""
        assert CONTROL is not None
        started = time.monotonic()
        process = await asyncio.create_subprocess_exec(
            CONTROL,
            action,
            f"{self.prefix}-replica{replica}",
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        _, error = await process.communicate()
        assert process.returncode == 0, error.decode()
        return time.monotonic() - started


@pytest.fixture(params=AVAILABLE)
async def servers(request: pytest.FixtureRequest) -> AsyncIterator[Servers]:
    found = Servers(request.param)
    setup = Database(found.primary_url, default=False)
    try:
        async with setup.engine.begin() as connection:
            await connection.run_sync(ReplicaNote.__table__.create, checkfirst=True)  # type: ignore[attr-defined]
            await connection.execute(ReplicaNote.__table__.delete())  # type: ignore[attr-defined]
    finally:
        await setup.dispose()
    try:
        yield found
    finally:
        leaked = []
        for database in found.made:
            if database.checked_out():
                leaked.append(database.url.port)
            await database.dispose()
        assert leaked == [], f"connections left checked out in the databases at ports {leaked}"


def reads_on(servers: Servers) -> Callable[[], Any]:
    """A function that counts, on each server (primary first), the reads of the notes'
    table so far: the servers' own counters."""

    async def count(url: str) -> int:
        observer = Database(url, default=False)
        try:
            async with observer.engine.connect() as connection:
                if servers.name == "postgresql":
                    # A backend's statistics reach the server when it goes idle or exits
                    # (the test's pools are disposed before counting).
                    found = await connection.scalar(
                        text(
                            "SELECT coalesce(seq_scan, 0) + coalesce(idx_scan, 0) "
                            "FROM pg_stat_user_tables WHERE relname = 'test_replica_notes'"
                        )
                    )
                else:
                    row = (
                        await connection.execute(text("SHOW GLOBAL STATUS LIKE 'Com_select'"))
                    ).one()
                    found = row[1]
                return int(found or 0)
        finally:
            await observer.dispose()

    async def counts() -> list[int]:
        urls = [servers.primary_url, *servers.replica_urls]
        if servers.name == "postgresql":
            # Settled: equal twice in a row, half a second apart.
            previous: list[int] | None = None
            for _ in range(20):
                now = [await count(url) for url in urls]
                if now == previous:
                    return now
                previous = now
                await asyncio.sleep(0.5)
            return now
        return [await count(url) for url in urls]

    return counts


async def test_reads_go_to_the_replicas_in_turn_and_writes_to_the_primary(
    servers: Servers,
) -> None:
    database = servers.database()
    with database.as_default():
        await ReplicaNote.create(code="seen", body="x")
        await asyncio.sleep(0.5)  # replicated long before it is read
        counts = reads_on(servers)
        await database.dispose()
        before = await counts()
        reads = 200
        for _ in range(reads):
            assert (await ReplicaNote.filter_by(body="x").count()) == 1
        await database.dispose()
        after = await counts()
    served = [b - a for a, b in zip(before, after, strict=True)]
    stats = database.replica_stats()
    # Every read on a replica, in turn (the policy is round robin). The primary's
    # counter moved by a few statements at most: on MariaDB it counts every SELECT,
    # the connection set-up (the dialect's queries, once for each of the primary's two
    # pools there) included.
    assert stats.replica_reads == reads and stats.primary_reads == 0
    assert [usage.reads for usage in stats.replicas] == [reads // 2, reads // 2]
    assert served[0] < reads // 10
    assert served[1] >= reads // 2 and served[2] >= reads // 2
    record_replica_figures(
        servers.name,
        routing_reads=reads,
        routing_share_on_replicas_percent=round(100 * (served[1] + served[2]) / sum(served)),
    )


async def test_a_write_then_a_read_never_reads_stale(servers: Servers) -> None:
    # The same task writes a row and reads it back at once, 500 times: read-your-writes
    # must find every row. Without it (db.replica() forces a replica whatever was
    # written), how many reads miss the row shows what it saves.
    database = servers.database(wait=1.0)
    cycles = 500
    stale = 0
    with database.as_default():
        for n in range(cycles):
            await ReplicaNote.create(code=f"ryw{n}")
            if await ReplicaNote.get(code=f"ryw{n}") is None:
                stale += 1
        stats = database.replica_stats()
        without = 0
        for n in range(100):
            await ReplicaNote.create(code=f"forced{n}")
            with database.replica():
                if await ReplicaNote.get(code=f"forced{n}") is None:
                    without += 1
    assert stale == 0
    record_replica_figures(
        servers.name,
        ryw_cycles=cycles,
        ryw_stale_reads=stale,
        ryw_reads_on_replicas=stats.replica_reads,
        ryw_reads_on_primary_behind=stats.primary_reasons.get("behind", 0),
        ryw_waits=stats.waits,
        ryw_wait_ms_mean=round(1000 * stats.waited_seconds / max(stats.waits, 1), 2),
        forced_replica_stale_reads_of_100=without,
    )


async def test_a_clients_next_request_reads_its_writes_through_the_token(
    servers: Servers,
) -> None:
    # Two requests of one client, each on its own connection and task: the POST's
    # response carries a token (cookie and header); the GET that sends it back reads
    # the row it wrote, from a replica that has replayed it or else from the primary.
    database = servers.database(wait=1.0)
    app = FastAPI()
    database.init_app(app)

    @app.post("/notes/{code}")
    async def create(code: str, session: RequestUnit) -> dict[str, str]:
        await ReplicaNote.create(code=code)
        return {"code": code}

    @app.get("/notes/{code}")
    async def read(code: str, session: RequestUnit) -> dict[str, bool]:
        return {"found": await ReplicaNote.get(code=code) is not None}

    stale = cookies = 0
    cycles = 100
    transport = httpx.ASGITransport(app=app)
    async with database.lifespan(app):
        for n in range(cycles):
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                written = await client.post(f"/notes/token{n}")
                assert written.status_code == 200
                token = written.headers["sqlrecord-read-after"]
                cookies += "sqlrecord_read_after=" in written.headers["set-cookie"]
                # The browser's way: the cookie comes back by itself.
                response = await client.get(f"/notes/token{n}")
                stale += not response.json()["found"]
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                response = await client.get(
                    f"/notes/token{n}", headers={"sqlrecord-read-after": token}
                )
                assert response.status_code == 200
                stale += not response.json()["found"]
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            # A forged or altered token is ignored: the read goes on (hostile input).
            for forged in ("x.y", token[:-2] + "AA", "", "a" * 600):
                answer = await client.get("/notes/token0", headers={"sqlrecord-read-after": forged})
                assert answer.status_code == 200 and answer.json() == {"found": True}
            # A read-only request wrote nothing: no token in its response.
            assert "sqlrecord-read-after" not in answer.headers
    assert stale == 0 and cookies == cycles
    assert database.replica_stats().replica_reads > 0
    record_replica_figures(servers.name, token_cycles=2 * cycles, token_stale_reads=stale)


async def test_a_write_on_a_replica_is_refused_with_a_typed_error(servers: Servers) -> None:
    # A Database whose URL names a replica by mistake, as the application's user (on
    # MariaDB not root: the server's read_only lets a user with SUPER write).
    mistaken_url = make_url(servers.replica_urls[0])
    if servers.name == "mysql":
        setup = Database(servers.primary_url, default=False)
        try:
            async with setup.engine.begin() as connection:  # replicated to the replicas
                await connection.execute(text("CREATE USER IF NOT EXISTS 'app'@'127.0.0.1'"))
                await connection.execute(text("GRANT ALL ON test.* TO 'app'@'127.0.0.1'"))
        finally:
            await setup.dispose()
        await asyncio.sleep(0.5)
        mistaken_url = mistaken_url.set(username="app")
    mistaken = Database(mistaken_url, default=False)
    servers.made.append(mistaken)
    with mistaken.as_default(), pytest.raises(ReadOnlyDatabaseError):
        await ReplicaNote.create(code="refused")
    # A request's read-only session (a GET under "unsafe_methods") is served by a
    # replica: a write in it is refused, even on MariaDB, whose read_only lets a user
    # with SUPER write (sqlrecord's replica connections are read-only themselves).
    database = servers.database(replicas=1)
    app = FastAPI()
    database.init_app(app)

    @app.get("/sneaky")
    async def sneaky(
        session: RequestUnit,
    ) -> None:
        await ReplicaNote.create(code="sneaky")

    transport = httpx.ASGITransport(app=app)
    async with (
        database.lifespan(app),
        httpx.AsyncClient(transport=transport, base_url="http://t") as client,
    ):
        response = await client.get("/sneaky")
    assert response.status_code == 500
    assert response.json()["type"] == "urn:sqlrecord:problem:internal"
    with database.as_default(), database.primary():
        assert await ReplicaNote.filter_by(code__in=["refused", "sneaky"]).count() == 0


async def test_locking_reads_and_primary_blocks_stay_on_the_primary(servers: Servers) -> None:
    database = servers.database(replicas=1)
    with database.as_default():
        await ReplicaNote.create(code="locked")
        async with database.transaction():  # a unit of work: the primary throughout
            assert await ReplicaNote.filter_by(code="locked").for_update().one()
        assert await ReplicaNote.filter_by(code="locked").for_update().first() is not None
        with database.primary():
            assert await ReplicaNote.filter_by(code="locked").count() == 1
    stats = database.replica_stats()
    assert stats.replica_reads == 0
    assert stats.primary_reasons == {"forced": 1}


async def test_a_replica_stopped_mid_load_is_left_out_then_rejoins(servers: Servers) -> None:
    # Readers keep reading while one replica (the only one) stops and starts again:
    # no reader sees an error, the primary serves while it is away, and it serves
    # again once back.
    database = servers.database(replicas=1, retry_after=0.5, check_every=0.2)
    errors: list[BaseException] = []
    reads = 0
    stop = asyncio.Event()

    async def reader() -> None:
        nonlocal reads
        while not stop.is_set():
            try:
                assert await ReplicaNote.filter_by(code="steady").count() == 1
                reads += 1
            except BaseException as error:
                errors.append(error)
            await asyncio.sleep(0.002)

    with database.as_default():
        await ReplicaNote.create(code="steady")
        await asyncio.sleep(0.3)
        readers = [asyncio.create_task(reader()) for _ in range(8)]
        await asyncio.sleep(1.0)
        before_stop = database.replica_stats().replica_reads
        stopping = await servers.control("stop-one", 1)
        await asyncio.sleep(1.0)
        away = database.replica_stats()
        on_primary_while_away = away.primary_reads
        rejoin_started = time.monotonic()
        starting = await servers.control("start-one", 1)
        back_at = None
        while time.monotonic() - rejoin_started < 30:
            replica_reads = database.replica_stats().replica_reads
            await asyncio.sleep(0.1)
            if database.replica_stats().replica_reads > replica_reads:
                back_at = time.monotonic()
                break
        stop.set()
        await asyncio.gather(*readers)
    assert errors == []
    assert before_stop > 0 and on_primary_while_away > 0
    assert away.replicas[0].failures >= 1
    assert back_at is not None, "the replica never served again after it restarted"
    record_replica_figures(
        servers.name,
        failover_reads=reads,
        failover_reader_errors=len(errors),
        failover_reads_on_primary_while_away=on_primary_while_away,
        failover_stop_seconds_x100=round(100 * stopping),
        failover_rejoin_seconds_x100=round(100 * (back_at - rejoin_started)),
        failover_start_command_seconds_x100=round(100 * starting),
    )


async def test_a_replica_that_stops_replaying_is_read_around(servers: Servers) -> None:
    # The replica stays up but stops applying changes (PostgreSQL: replay paused;
    # MariaDB: its SQL thread stopped): a read after a write goes to the primary, which
    # has the row; once the lag shows, the replica leaves the rotation; when it
    # replays again, it is back.
    database = servers.database(replicas=1, max_lag=0.5, check_every=0.1, retry_after=0.3, wait=0.2)
    control = Database(servers.replica_urls[0], default=False)
    servers.made.append(control)
    pause, resume = (
        ("SELECT pg_wal_replay_pause()", "SELECT pg_wal_replay_resume()")
        if servers.name == "postgresql"
        else ("STOP SLAVE SQL_THREAD", "START SLAVE SQL_THREAD")
    )

    async def run(statement: str) -> None:
        async with control.engine.connect() as connection:
            await connection.execute(text(statement))

    with database.as_default():
        await ReplicaNote.create(code="before")
        await asyncio.sleep(0.3)
        assert await ReplicaNote.filter_by(code="before").count() == 1
        await run(pause)
        try:
            await ReplicaNote.create(code="during")
            assert await ReplicaNote.get(code="during") is not None  # never stale
            assert database.replica_stats().primary_reasons.get("behind", 0) >= 1
            await asyncio.sleep(1.0)  # past max_lag
            assert await ReplicaNote.filter_by(code="during").count() == 1
            away = database.replica_stats()
            assert not away.replicas[0].in_rotation
            assert away.primary_reasons.get("unavailable", 0) >= 1
        finally:
            await run(resume)
        deadline = time.monotonic() + 20
        while not database.replica_stats().replicas[0].in_rotation:
            assert time.monotonic() < deadline, "the replica did not come back"
            await asyncio.sleep(0.2)
            with database.replica():
                await ReplicaNote.filter_by(code="during").count()
    assert database.replica_stats().replicas[0].failures >= 1
