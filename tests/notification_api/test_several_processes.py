"""Several processes on one database: two ``serve-api``, two ``work``, real HTTP on loopback.

The deployment of docs/notification-api.md ("Running several processes"), as
separate ``python -m notification_api`` processes sharing one PostgreSQL
database (its own, ``<name>_procs``, so that no other test's worker takes its
rows). A client signs up and creates API keys on one API process and lists
them on the other (read-your-writes across processes, which read replicas
must keep), then queues notifications through both; the two workers deliver
them to the suite's webhook receiver. Each must arrive exactly once, claimed
once (``attempts == 1``), and both workers must have taken part.

``NOTIFICATION_API_TEST_POSTGRES_REPLICA_URLS`` (comma-separated, optional)
names read replicas, and ``NOTIFICATION_API_TEST_POSTGRES_REPLICATED_URL`` their
primary (``.ci/run`` sets both from ``scripts/replicas``): the test's database is
then made on that primary, and the processes get the replicas, pointed at the same
database name, as ``DB_REPLICA_URLS``; the client carries the read-after cookie
from one process to the other, as a browser would.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.fernet import Fernet
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from notification_api import Settings
from notification_api.database import make_database
from notification_api.migrate import upgrade_to_head
from notification_api.models import Notification

from .api import create_key, register, signed
from .conftest import BACKENDS, TEST_RATE_LIMITS, URL_VARIABLES, eventually, own_database
from .servers import Receiver, free_port

pytestmark = pytest.mark.e2e
REPLICAS_VARIABLE = "NOTIFICATION_API_TEST_POSTGRES_REPLICA_URLS"
#: The primary of those replicas (its database is created there and replicated).
REPLICATED_VARIABLE = "NOTIFICATION_API_TEST_POSTGRES_REPLICATED_URL"
NOTIFICATIONS = 60
DELIVERY_BOUND_SECONDS = 20
_SENT_LINE = re.compile(r"notification (\d+): sent \(attempt")


@dataclass
class Process:
    """A ``python -m notification_api`` process and the file its output goes to."""

    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def sent_ids(self) -> list[int]:
        """The notifications this worker recorded as sent, from its log."""
        return [int(found) for found in _SENT_LINE.findall(self.log())]

    def stop(self) -> int:
        """SIGTERM, and the exit status (the process is killed if it outstays 20 s)."""
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
        try:
            return self.popen.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait()
            raise


@dataclass
class Deployment:
    db_url: str
    api_urls: list[str]
    workers: list[Process]
    apis: list[Process]
    #: The replicas the processes read from (DB_REPLICA_URLS), if any.
    replicas: list[str]

    @property
    def replicated(self) -> bool:
        return bool(self.replicas)


@pytest.fixture(scope="module", params=[backend for backend in BACKENDS if backend != "mysql"])
async def shared_db_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> tuple[str, list[str]]:
    """A database of this module's own, migrated; and its replicas' URLs.

    PostgreSQL when its URL is set (the deployment this test is about), and
    SQLite, on one file that every process opens, always.
    """
    if request.param == "sqlite":
        primary = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('procs') / 'shared.db'}"
        replicas: list[str] = []
    else:
        # With replicas, their primary's server (scripts/replicas): a database made
        # there is made on its replicas too.
        server = os.environ.get(REPLICATED_VARIABLE) or os.environ[URL_VARIABLES[request.param]]
        primary = await own_database(server, suffix="_procs")
        name = make_url(primary).database
        replicas = [
            make_url(url.strip()).set(database=name).render_as_string(hide_password=False)
            for url in os.environ.get(REPLICAS_VARIABLE, "").split(",")
            if url.strip()
        ]
    database = make_database(Settings(api_env="test", db_url=primary, jwt_secret="m" * 32))
    try:
        await upgrade_to_head(database)  # once, before the processes (MIGRATE_ON_START=false)
    finally:
        await database.dispose()
    return primary, replicas


def _environment(db_url: str, replicas: list[str]) -> dict[str, str]:
    env = {
        **os.environ,
        "API_ENV": "test",
        "DB_URL": db_url,
        "JWT_SECRET": "several-processes-" * 3,  # one secret: a token works on every API
        "SECRET_KEYS_ENCRYPTION_KEYS": Fernet.generate_key().decode(),  # and one key
        "MIGRATE_ON_START": "false",
        "PASSWORD_HASH_TIME_COST": "1",
        "PASSWORD_HASH_MEMORY_KIB": "1024",
        # The suite's receiver is on 127.0.0.1, which only this allowance lets through.
        "WEBHOOK_ALLOWED_NETWORKS": "127.0.0.1/32",
        "WORKER_POLL_SECONDS": "0.2",
        **{name.upper(): value for name, value in TEST_RATE_LIMITS.items()},
    }
    if replicas:
        env["DB_REPLICA_URLS"] = ",".join(replicas)
    return env


def _spawn(stack: ExitStack, workdir: Path, name: str, env: dict[str, str], *args: str) -> Process:
    log_path = workdir / f"{name}.log"
    log = stack.enter_context(log_path.open("w"))
    popen = subprocess.Popen(
        [sys.executable, "-m", "notification_api", *args],
        env=env,
        stdout=log,
        stderr=log,
        cwd=workdir,
    )
    process = Process(name, popen, log_path)
    stack.callback(_kill_if_running, process)
    return process


def _kill_if_running(process: Process) -> None:
    if process.popen.poll() is None:
        process.popen.kill()
        process.popen.wait()


async def _until_ready(process: Process, check: Any) -> None:
    deadline = asyncio.get_running_loop().time() + 30
    while not await check():
        assert process.popen.poll() is None, f"{process.name} exited:\n{process.log()}"
        assert asyncio.get_running_loop().time() < deadline, f"{process.name}:\n{process.log()}"
        await asyncio.sleep(0.05)


async def _answers(url: str) -> bool:
    try:
        async with httpx.AsyncClient() as http:
            return (await http.get(f"{url}/")).status_code == 200
    except httpx.TransportError:
        return False


@pytest.fixture
async def deployment(
    shared_db_url: tuple[str, list[str]], tmp_path: Path
) -> AsyncIterator[Deployment]:
    """Two API processes and two workers on the shared database, all started and ready."""
    db_url, replicas = shared_db_url
    env = _environment(db_url, replicas)
    with ExitStack() as stack:
        ports = [free_port(), free_port()]
        apis = [
            _spawn(stack, tmp_path, f"api-{n}", {**env, "PORT": str(port)}, "serve-api")
            for n, port in enumerate(ports)
        ]
        workers = [_spawn(stack, tmp_path, f"worker-{n}", env, "work") for n in range(2)]
        api_urls = [f"http://127.0.0.1:{port}" for port in ports]
        serving = zip(apis, api_urls, strict=True)
        await asyncio.gather(
            *(_until_ready(api, lambda url=url: _answers(url)) for api, url in serving),
            *(_until_ready(worker, lambda w=worker: _logged(w, "started")) for worker in workers),
        )
        yield Deployment(db_url, api_urls, workers, apis, replicas=replicas)


async def _logged(process: Process, word: str) -> bool:
    return word in process.log()


async def test_two_apis_and_two_workers_deliver_every_notification_once(
    deployment: Deployment, receiver: tuple[Receiver, str]
) -> None:
    app, receiver_url = receiver
    path = f"/slow/processes-{uuid.uuid4().hex[:8]}"  # a receiver that keeps workers busy
    first, second = (httpx.AsyncClient(base_url=url, timeout=10) for url in deployment.api_urls)
    async with first, second:
        auth = await register(first)
        # A key created on one process is listed by the very next request on the other.
        key = await create_key(first, auth)
        if deployment.replicated:
            # The write's response carries the read-after token as a cookie: a browser
            # sends it to whichever process serves it next, as this client does.
            assert "sqlrecord_read_after" in first.cookies
        second.cookies.update(first.cookies)
        listed = await second.get("/api/users/apikeys", headers=auth)
        assert [item["id"] for item in listed.json()] == [key["id"]], listed.text
        other = await create_key(second, auth)
        first.cookies.update(second.cookies)
        listed = await first.get("/api/users/apikeys", headers=auth)
        assert [item["id"] for item in listed.json()] == [key["id"], other["id"]], listed.text

        async def queue(n: int) -> int:
            note = {"channel": "webhook", "recipient": f"{receiver_url}{path}", "subject": f"n{n}"}
            response = await signed(
                (first, second)[n % 2],
                "POST",
                "/api/services/notifications",
                key,
                json={**note, "body": "b"},
            )
            assert response.status_code == 202, response.text
            return int(response.json()["id"])

        started = asyncio.get_running_loop().time()
        ids = await asyncio.gather(*(queue(n) for n in range(NOTIFICATIONS)))
        await eventually(lambda: _all_sent(deployment.db_url, ids), within=DELIVERY_BOUND_SECONDS)
        took = asyncio.get_running_loop().time() - started
    delivered = [payload["id"] for _, payload in app.received_on(path)]
    assert sorted(delivered) == sorted(ids), "each notification delivered exactly once"
    # Every claim counts an attempt: one each means no row was ever claimed twice.
    rows = await _rows(deployment.db_url, ids)
    assert {(status, attempts) for _, status, attempts in rows} == {("sent", 1)}
    # Both workers took part, and none recorded another's notification.
    per_worker = [set(worker.sent_ids()) & set(ids) for worker in deployment.workers]
    assert all(per_worker), [len(sent) for sent in per_worker]
    assert per_worker[0].isdisjoint(per_worker[1])
    if deployment.replicated:
        # The GETs were served by the replicas (their own counters, which a server
        # backend reports within seconds), the key lists among them, and none was
        # stale (the lists above).
        async def served_by_replicas() -> bool:
            return await _reads_on_replicas(deployment.replicas, "api_keys") > 0

        await eventually(served_by_replicas, within=20)
    assert per_worker[0] | per_worker[1] == set(ids)
    print(f"{NOTIFICATIONS} notifications queued and delivered in {took:.2f} s")
    # SIGTERM: each worker stops its loop, lets its sends finish and exits 0.
    for worker in deployment.workers:
        assert worker.stop() == 0, worker.log()
        assert "Traceback" not in worker.log(), worker.log()
        assert worker.log().rstrip().endswith("stopped"), worker.log()
    for api in deployment.apis:
        # uvicorn shuts down, then ends itself with the signal it received (0.29 and later).
        assert api.stop() in (0, -signal.SIGTERM), api.log()
        assert "Application shutdown complete" in api.log(), api.log()


async def _reads_on_replicas(urls: list[str], table: str) -> int:
    total = 0
    for url in urls:
        engine = create_async_engine(url)
        try:
            async with engine.connect() as connection:
                total += int(
                    await connection.scalar(
                        text(
                            "SELECT coalesce(seq_scan, 0) + coalesce(idx_scan, 0) "
                            "FROM pg_stat_user_tables WHERE relname = :table"
                        ),
                        {"table": table},
                    )
                    or 0
                )
        finally:
            await engine.dispose()
    return total


async def _rows(db_url: str, ids: list[int]) -> list[tuple[Any, ...]]:
    database = make_database(Settings(api_env="test", db_url=db_url, jwt_secret="m" * 32))
    try:
        with database.as_default():
            return list(
                await Notification.filter_by(id__in=ids).values_list("id", "status", "attempts")
            )
    finally:
        await database.dispose()


async def _all_sent(db_url: str, ids: list[int]) -> bool:
    rows = await _rows(db_url, ids)
    return len(rows) == len(ids) and all(status == "sent" for _, status, _ in rows)
