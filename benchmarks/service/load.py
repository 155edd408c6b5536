"""``python -m benchmarks.service.load``: the load generator, run in a process of its own.

It shares no interpreter with the server, so its own CPU time never counts as the
server's. ``--clients`` tasks (50 by default) share one ``httpx.AsyncClient`` with as
many keep-alive connections and send requests back to back: a warm-up (``--warmup``
seconds, not counted), then ``--seconds`` measured. A request counts when it completes
inside the measured window; its latency is what the client waited. Any non-2xx answer
or transport error, warm-up included, is counted: the runner reports such a run as an
error, never as a speed.

Credentials come from the environment (``BENCH_TOKEN``, ``BENCH_ACCESS_KEY``,
``BENCH_SECRET_KEY``), not the command line. The result is one JSON object on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import hmac
import json
import math
import os
import resource
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import psutil

__all__ = ["ENDPOINTS", "NOTIFICATION", "main", "percentile", "run_load", "sign"]

#: Endpoint key -> what it is called in the tables.
ENDPOINTS = {
    "me": "GET /api/users/me",
    "notify": "POST /api/services/notifications",
}
#: The body every queued notification has (an e-mail: no URL checks in the way).
NOTIFICATION = {
    "channel": "email",
    "recipient": "someone@example.com",
    "subject": "Your order has shipped",
    "body": "Hello,\n\nyour order 12345 is on its way.\n",
}


def sign(secret_key: str, query_string: str) -> str:
    """The ``secret`` header, computed as a client would (docs/notification-api.md).

    Written out here rather than imported from the service: the load process then
    loads no server code, and the apps' 202s prove the two computations agree.
    """
    digest = hmac.new(secret_key.encode(), query_string.encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def percentile(values: list[float], share: float) -> float:
    """The nearest-rank percentile of ``values`` (sorted or not); 0.0 for none."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = min(max(1, math.ceil(share * len(ordered))), len(ordered))
    return ordered[rank - 1]


def _sender(
    client: httpx.AsyncClient, endpoint: str, credentials: dict[str, str]
) -> Callable[[], Awaitable[httpx.Response]]:
    if endpoint == "me":
        headers = {"authorization": f"Bearer {credentials['token']}"}

        def get_me() -> Awaitable[httpx.Response]:
            return client.get("/api/users/me", headers=headers)

        return get_me
    body = json.dumps(NOTIFICATION).encode()
    signed: dict[int, tuple[str, dict[str, str]]] = {}

    def post_notification() -> Awaitable[httpx.Response]:
        # A fresh timestamp each second (the server allows ±60 s), signed once.
        now = int(time.time())
        if now not in signed:
            query = f"key={credentials['access_key']}&timestamp={now}"
            headers = {
                "secret": sign(credentials["secret_key"], query),
                "content-type": "application/json",
            }
            signed.clear()
            signed[now] = (query, headers)
        query, headers = signed[now]
        return client.post(f"/api/services/notifications?{query}", content=body, headers=headers)

    return post_notification


async def run_load(
    base_url: str,
    endpoint: str,
    credentials: dict[str, str],
    *,
    clients: int,
    warmup: float,
    seconds: float,
    server_pid: int | None = None,
) -> dict[str, Any]:
    """Load ``endpoint`` of the server at ``base_url``; the measurements as a dict.

    With ``server_pid``, the server's CPU time over the measured window is read too:
    a share near 100 % says the server, not the client, set the pace.
    """
    server = psutil.Process(server_pid) if server_pid else None
    server_cpu: list[float] = []

    def cpu_mark() -> None:
        if server is not None:
            times = server.cpu_times()
            server_cpu.append(times.user + times.system)

    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    statuses: Counter[int] = Counter()
    latencies: list[float] = []
    failures = {"transport_errors": 0}
    first_error: list[str] = []
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=60) as client:
        send = _sender(client, endpoint, credentials)
        started = time.perf_counter()
        measure_from, until = started + warmup, started + warmup + seconds

        async def one_client() -> None:
            while (sent := time.perf_counter()) < until:
                try:
                    response = await send()
                except httpx.HTTPError as error:
                    failures["transport_errors"] += 1
                    first_error.append(f"{type(error).__name__}: {error}")
                    continue
                done = time.perf_counter()
                statuses[response.status_code] += 1
                if not 200 <= response.status_code < 300:
                    first_error.append(f"{response.status_code}: {response.text[:300]}")
                elif measure_from <= done <= until:
                    latencies.append(done - sent)

        async def window() -> None:
            await asyncio.sleep(max(0.0, measure_from - time.perf_counter()))
            cpu_mark()
            mine.append(resource.getrusage(resource.RUSAGE_SELF))
            await asyncio.sleep(max(0.0, until - time.perf_counter()))
            cpu_mark()
            mine.append(resource.getrusage(resource.RUSAGE_SELF))

        mine: list[resource.struct_rusage] = []
        await asyncio.gather(window(), *(one_client() for _ in range(clients)))
    non_2xx = sum(count for status, count in statuses.items() if not 200 <= status < 300)
    used = (mine[1].ru_utime - mine[0].ru_utime) + (mine[1].ru_stime - mine[0].ru_stime)
    return {
        "endpoint": endpoint,
        "clients": clients,
        "warmup_s": warmup,
        "seconds": seconds,
        "requests": len(latencies),
        "rps": len(latencies) / seconds,
        "p50_ms": percentile(latencies, 0.50) * 1000,
        "p99_ms": percentile(latencies, 0.99) * 1000,
        "statuses": {str(status): count for status, count in sorted(statuses.items())},
        "non_2xx": non_2xx,
        "transport_errors": failures["transport_errors"],
        "first_error": first_error[0] if first_error else None,
        "client_cpu": used / seconds,
        "server_cpu": (server_cpu[1] - server_cpu[0]) / seconds if server_cpu else None,
    }


def main() -> None:
    """Parse the arguments, run the load, print the JSON result."""
    parser = argparse.ArgumentParser(prog="benchmarks.service.load", description=__doc__)
    parser.add_argument("--url", required=True, help="e.g. http://127.0.0.1:8123")
    parser.add_argument("--endpoint", choices=list(ENDPOINTS), required=True)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--server-pid", type=int, help="read this process's CPU time")
    args = parser.parse_args()
    host = httpx.URL(args.url).host
    if host not in ("127.0.0.1", "localhost", "::1"):
        raise SystemExit(f"Loopback only: refusing to load {host!r}.")
    credentials = {
        "token": os.environ.get("BENCH_TOKEN", ""),
        "access_key": os.environ.get("BENCH_ACCESS_KEY", ""),
        "secret_key": os.environ.get("BENCH_SECRET_KEY", ""),
    }
    result = asyncio.run(
        run_load(
            args.url,
            args.endpoint,
            credentials,
            clients=args.clients,
            warmup=args.warmup,
            seconds=args.seconds,
            server_pid=args.server_pid,
        )
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
