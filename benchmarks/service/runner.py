"""Rounds of (fresh database, server, load) for each app, alternated so drift hits both.

For every round and app: the service's migration builds the tables anew, the seed rows
go in, the app is served from a child process on a free loopback port, one sample
response of each endpoint is kept (the two apps' samples must be equal apart from ids
and timestamps), and the load generator runs against each endpoint in turn. The order
of the apps flips every round. A run with any non-2xx answer stops the benchmark.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from cryptography.fernet import Fernet

from .databases import URLS, Seed, ensure_database, reset_schema, seed
from .load import ENDPOINTS, LoadError, request_of, run_load
from .server import APPS

__all__ = [
    "SERVER_ENV",
    "SIZES",
    "BenchmarkError",
    "Server",
    "Size",
    "new_secrets",
    "run_rounds",
]

_ROOT = Path(__file__).resolve().parents[2]
LOGS = _ROOT / "var" / "bench" / "service" / "logs"
_START_SECONDS = 60.0  # to import, start and answer
_STOP_SECONDS = 10.0  # for a graceful shutdown before SIGKILL


@dataclass(frozen=True)
class Size:
    """How long and how often: rounds, warm-up and measured seconds per run, clients."""

    name: str
    rounds: int
    warmup: float
    seconds: float
    clients: int = 50


SIZES = {
    "default": Size("default", rounds=3, warmup=2.0, seconds=8.0),
    "smoke": Size("smoke", rounds=1, warmup=1.0, seconds=2.0),
}

#: The settings both servers get on top of DB_URL, JWT_SECRET and
#: SECRET_KEYS_ENCRYPTION_KEYS. The delivery worker is off: it would poll and send the
#: queued rows, work that is not the endpoints'. The signed-call limit is counted in
#: both apps but set far above any rate the benchmark reaches (the service's default,
#: 600/minute per key, would answer 429 within seconds); login and register, also
#: limited, are never called.
SERVER_ENV = {
    "API_ENV": "test",
    "MIGRATE_ON_START": "false",  # the runner migrated already (same tables for both)
    "WORKER_ENABLED": "false",
    "RATE_LIMIT_SIGNED": "1000000/minute",
}


def new_secrets() -> tuple[str, str]:
    """A run's ``JWT_SECRET`` and ``SECRET_KEYS_ENCRYPTION_KEYS`` (one Fernet key)."""
    return secrets.token_urlsafe(32), Fernet.generate_key().decode()


class BenchmarkError(RuntimeError):
    """A run that cannot be reported as a speed: errors, unequal answers, a dead server."""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class Server:
    """One app served by uvicorn in a child process (``async with``)."""

    def __init__(
        self, app: str, db: str, jwt_secret: str, encryption_key: str, profile: Path | None = None
    ) -> None:
        self.app, self.db, self.profile = app, db, profile
        self.jwt_secret, self.encryption_key = jwt_secret, encryption_key
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: asyncio.subprocess.Process | None = None
        self.log = LOGS / f"{db}-{app}.log"

    async def __aenter__(self) -> Server:
        LOGS.mkdir(parents=True, exist_ok=True)
        env = {
            **os.environ,
            **SERVER_ENV,
            "DB_URL": URLS[self.db],
            "JWT_SECRET": self.jwt_secret,
            "SECRET_KEYS_ENCRYPTION_KEYS": self.encryption_key,
        }
        command = [sys.executable, "-m", "benchmarks.service.server", "--app", self.app]
        command += ["--port", str(self.port)]
        if self.profile:
            command += ["--profile", str(self.profile)]
        with self.log.open("ab") as log:
            self.process = await asyncio.create_subprocess_exec(
                *command, cwd=_ROOT, env=env, stdout=log, stderr=asyncio.subprocess.STDOUT
            )
        await self._wait_ready()
        return self

    async def _wait_ready(self) -> None:
        deadline = time.monotonic() + _START_SECONDS
        async with httpx.AsyncClient(base_url=self.url, timeout=5) as client:
            while time.monotonic() < deadline:
                assert self.process is not None
                if self.process.returncode is not None:
                    raise BenchmarkError(f"{self.app} server exited; see {self.log}")
                try:
                    await client.get("/api/users/me")  # any answer: it is listening
                    return
                except httpx.TransportError:
                    await asyncio.sleep(0.1)
        raise BenchmarkError(
            f"{self.app} server did not start in {_START_SECONDS} s; see {self.log}"
        )

    @property
    def pid(self) -> int:
        """The server's process id."""
        assert self.process is not None
        return self.process.pid

    async def __aexit__(self, *_: object) -> None:
        process = self.process
        if process is None or process.returncode is not None:
            return
        process.send_signal(signal.SIGINT)  # uvicorn shuts down gracefully (lifespan)
        try:
            await asyncio.wait_for(process.wait(), _STOP_SECONDS)
        except TimeoutError:
            process.kill()
            await process.wait()


def _normalised(body: Any) -> Any:
    """A response body without what must differ between two databases: ids, times."""
    if isinstance(body, dict):
        return {k: v for k, v in body.items() if k not in ("id", "created_at", "updated_at")}
    return body


async def take_samples(url: str, credentials: Seed) -> dict[str, Any]:
    """One answer of each endpoint: status and normalised JSON body."""
    given = credentials.credentials()
    answers: dict[str, Any] = {}
    async with httpx.AsyncClient(base_url=url, timeout=10) as client:
        for endpoint in ENDPOINTS:
            method, path, headers, body = request_of(endpoint, given)
            answer = await client.request(method, path, headers=headers, content=body)
            answers[endpoint] = {"status": answer.status_code, "body": _normalised(answer.json())}
    return answers


async def _load(server: Server, endpoint: str, credentials: Seed, size: Size) -> dict[str, Any]:
    given = credentials.credentials()
    try:
        return await run_load(
            server.url,
            endpoint,
            given,
            clients=size.clients,
            warmup=size.warmup,
            seconds=size.seconds,
            server_pid=server.pid,
        )
    except LoadError as error:
        raise BenchmarkError(str(error)) from error


async def run_rounds(
    db: str,
    size: Size,
    *,
    endpoints: tuple[str, ...] = tuple(ENDPOINTS),
    log: Callable[[str], None] = print,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Every round of every app on ``db``: the runs, and each app's sample answers."""
    await ensure_database(db)
    jwt_secret, encryption_key = new_secrets()
    runs: list[dict[str, Any]] = []
    samples: dict[str, Any] = {}
    for round_number in range(1, size.rounds + 1):
        order = APPS if round_number % 2 else tuple(reversed(APPS))
        for app in order:
            await reset_schema(db)
            credentials = await seed(db, jwt_secret, encryption_key)
            async with Server(app, db, jwt_secret, encryption_key) as server:
                samples.setdefault(app, await take_samples(server.url, credentials))
                for endpoint in endpoints:
                    load_before = os.getloadavg()[0]
                    result = await _load(server, endpoint, credentials, size)
                    # The 1-minute load average: shows a machine shared with other work.
                    result["loadavg_before"] = load_before
                    result["loadavg_after"] = os.getloadavg()[0]
                    result.update(app=app, round=round_number, db=db)
                    runs.append(result)
                    log(
                        f"  round {round_number} {app:9} {ENDPOINTS[endpoint]:34} "
                        f"{result['rps']:8.0f} req/s  p50 {result['p50_ms']:6.1f} ms  "
                        f"p99 {result['p99_ms']:6.1f} ms  non-2xx {result['non_2xx']}  "
                        f"server CPU {result['server_cpu']:.0%}"
                    )
                    if result["non_2xx"] or result["transport_errors"]:
                        raise BenchmarkError(
                            f"{app} answered {result['statuses']} with "
                            f"{result['transport_errors']} transport errors on {endpoint}: "
                            f"{result['first_error']}"
                        )
                    if not result["requests"]:
                        # No answer at all in the run: the server stalled (not a speed of 0).
                        raise BenchmarkError(
                            f"{app} answered no request on {endpoint} in "
                            f"{size.warmup:g} + {size.seconds:g} s: the server stalled; see "
                            f"{server.log} (a request still waiting is answered only after "
                            "wrk's timeout or the server's own, e.g. the pool's 30 s)"
                        )
    first, second = (samples[app] for app in APPS)
    if first != second:
        raise BenchmarkError(f"the apps answer differently: {json.dumps(samples)}")
    return runs, samples
