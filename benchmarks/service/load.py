"""The load: wrk, a C load generator, in a process of its own, driven from here.

Why wrk and not a Python client: the machine has two cores for the load, the server and
the database. An ``httpx`` generator with 50 clients took a whole core to send about 200
requests a second, so it, not the server, set the pace: the servers ran at 40-55 % of a
core and req/s moved with whatever the scheduler gave the client (session 5's MariaDB
runs). wrk sends the same requests for a few percent of a core, so the server under test
runs flat out and req/s measures the server.

One call of :func:`run_load` is two wrk runs over ``clients`` keep-alive connections on
one wrk thread: a warm-up (``warmup`` seconds, not counted, new connections included)
and the measured run (``seconds``). wrk's own summary gives the requests completed,
p50 and p99 latency and the errors; a Lua hook counts the answers by status and keeps
the first non-2xx body. Any non-2xx answer or socket error, warm-up included, is in
the result, and the runner reports such a run as an error, never as a speed. The
request is built once per call: the signed ``POST`` carries the timestamp of that
moment, inside the server's window for the whole call (see :data:`MAX_CALL_SECONDS`).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import resource
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

__all__ = [
    "ENDPOINTS",
    "MAX_CALL_SECONDS",
    "NOTIFICATION",
    "LoadError",
    "request_of",
    "run_load",
    "sign",
    "wrk_version",
]

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
#: The longest warm-up plus measured time one signed request may serve: the service
#: accepts a timestamp up to 60 s old (``timestamp_window_seconds``); 5 s are spare.
MAX_CALL_SECONDS = 55.0
#: wrk's default timeout is 2 s, and a loaded server's p99 can be near that; a request
#: that times out would be dropped from the latencies instead of counted.
_TIMEOUT = "60s"

#: wrk's socket-error counters (its non-2xx count is left to the Lua status table).
_SOCKET_ERRORS = ("connect", "read", "write", "timeout")

_INSTALL = (
    "wrk is not installed. ./scripts/bench --service installs it (apt-get install wrk); "
    "on another system install wrk 4 from its package manager."
)


class LoadError(RuntimeError):
    """wrk is missing, failed, or printed no result."""


def sign(secret_key: str, query_string: str) -> str:
    """The ``secret`` header, computed as a client would (docs/notification-api.md).

    Written out here rather than imported from the service: the two apps' 202s then
    prove that the service's computation agrees with a client's.
    """
    digest = hmac.new(secret_key.encode(), query_string.encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def request_of(endpoint: str, credentials: dict[str, str]) -> tuple[str, str, dict[str, str], str]:
    """(method, path with query, headers, body) of one request to ``endpoint``."""
    if endpoint == "me":
        return "GET", "/api/users/me", {"authorization": f"Bearer {credentials['token']}"}, ""
    query = f"key={credentials['access_key']}&timestamp={int(time.time())}"
    headers = {"secret": sign(credentials["secret_key"], query), "content-type": "application/json"}
    return "POST", f"/api/services/notifications?{query}", headers, json.dumps(NOTIFICATION)


def _lua_string(text: str) -> str:
    """``text`` as a Lua long-bracket literal that no byte of it can close."""
    level = 0
    while f"]{'=' * level}]" in text:
        level += 1
    # A long bracket drops a newline right after its opening: keep the first one.
    return f"[{'=' * level}[\n{text}]{'=' * level}]"


# The script's only output is its ``done`` lines: "wrk-result" with wrk's summary,
# "wrk-status" per status code, "wrk-first-error" with the first non-2xx body.
_SCRIPT = """
wrk.method = {method}
wrk.path = {path}
wrk.body = {body}
{headers}
local threads = {{}}
function setup(thread)
  table.insert(threads, thread)
end
statuses = {{}}
first_error = nil
function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
  if (status < 200 or status > 299) and first_error == nil then
    first_error = status .. ": " .. string.sub(body or "", 1, 300)
  end
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "wrk-result requests=%d duration_us=%d connect=%d read=%d write=%d timeout=%d "
      .. "p50_us=%d p99_us=%d\\n",
    summary.requests, summary.duration, e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(99)))
  for _, thread in ipairs(threads) do
    for code, count in pairs(thread:get("statuses")) do
      io.write(string.format("wrk-status %d %d\\n", code, count))
    end
    local text = thread:get("first_error")
    if text then
      io.write("wrk-first-error " .. string.gsub(text, "\\n", " ") .. "\\n")
    end
  end
end
"""


def _script(method: str, path: str, headers: dict[str, str], body: str) -> str:
    header_lines = "\n".join(
        f"wrk.headers[ {_lua_string(name)} ] = {_lua_string(value)}"
        for name, value in headers.items()
    )
    return _SCRIPT.format(
        method=_lua_string(method),
        path=_lua_string(path),
        body=_lua_string(body),
        headers=header_lines,
    )


def _parse(output: str) -> dict[str, Any]:
    figures: dict[str, int] = {}
    statuses: dict[str, int] = {}
    first_error = None
    for line in output.splitlines():
        tag, _, rest = line.partition(" ")
        if tag == "wrk-result":
            figures = {k: int(v) for k, v in (pair.split("=") for pair in rest.split())}
        elif tag == "wrk-status":
            code, count = rest.split()
            statuses[code] = statuses.get(code, 0) + int(count)
        elif tag == "wrk-first-error" and first_error is None:
            first_error = rest
    if not figures:
        raise LoadError(f"wrk printed no result:\n{output[-2000:]}")
    return {"figures": figures, "statuses": statuses, "first_error": first_error}


def wrk_version() -> str:
    """The installed wrk's version, e.g. ``wrk debian/4.1.0-3+b2`` ("" when it is missing)."""
    path = shutil.which("wrk")
    if path is None:
        return ""
    shown = subprocess.run([path, "--version"], capture_output=True, text=True, check=False)
    first = (shown.stdout or shown.stderr or "\n").splitlines()[0]
    return " ".join(first.split()[:2])


async def _wrk(url: str, script: Path, clients: int, seconds: float) -> str:
    wrk = shutil.which("wrk")
    if wrk is None:
        raise LoadError(_INSTALL)
    command = [wrk, "-t1", f"-c{clients}", f"-d{int(seconds)}s", f"--timeout={_TIMEOUT}"]
    command += ["-s", str(script), url]
    child = await asyncio.create_subprocess_exec(
        *command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    out, _ = await child.communicate()
    text = out.decode(errors="replace")
    if child.returncode != 0:
        raise LoadError(f"wrk exited with {child.returncode}:\n{text[-2000:]}")
    return text


def _cpu_seconds(process: psutil.Process | None) -> float:
    if process is None:
        return 0.0
    times = process.cpu_times()
    return float(times.user + times.system)


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
    """Load ``endpoint`` of the server at ``base_url`` with wrk; the measurements.

    ``credentials`` holds ``token``, ``access_key`` and ``secret_key``. With
    ``server_pid``, the server's CPU share over the measured run is read too: near
    100 % says the server set the pace. ``client_cpu`` is wrk's own share.
    """
    host = base_url.split("://", 1)[-1].split(":", 1)[0].split("/", 1)[0]
    if host not in ("127.0.0.1", "localhost", "[::1]"):
        raise LoadError(f"Loopback only: refusing to load {host!r}.")
    if any(span != int(span) or span < 0 for span in (warmup, seconds)) or seconds < 1:
        raise LoadError("wrk runs for whole seconds: give warm-up >= 0 and seconds >= 1 as such.")
    if warmup + seconds > MAX_CALL_SECONDS:
        raise LoadError(
            f"warm-up + seconds must stay under {MAX_CALL_SECONDS:g} s: the signed request "
            "is built once and the service refuses a timestamp older than 60 s."
        )
    method, path, headers, body = request_of(endpoint, credentials)
    server = psutil.Process(server_pid) if server_pid else None
    with tempfile.TemporaryDirectory(prefix="bench-wrk-") as folder:
        script = Path(folder) / "request.lua"
        script.write_text(_script(method, path, headers, body))
        warm = _parse(await _wrk(base_url, script, clients, warmup)) if warmup > 0 else None
        children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
        server_before, started = _cpu_seconds(server), time.perf_counter()
        measured = _parse(await _wrk(base_url, script, clients, seconds))
        elapsed = time.perf_counter() - started
        server_used = _cpu_seconds(server) - server_before
        children_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    client_used = (children_after.ru_utime - children_before.ru_utime) + (
        children_after.ru_stime - children_before.ru_stime
    )
    figures = measured["figures"]
    statuses = dict(measured["statuses"])
    errors = sum(figures[kind] for kind in _SOCKET_ERRORS)
    first_error = measured["first_error"]
    if warm is not None:
        for code, count in warm["statuses"].items():
            if not code.startswith("2"):
                statuses[code] = statuses.get(code, 0) + count
        errors += sum(warm["figures"][kind] for kind in _SOCKET_ERRORS)
        first_error = warm["first_error"] or first_error
    non_2xx = sum(count for code, count in statuses.items() if not code.startswith("2"))
    duration = figures["duration_us"] / 1e6
    return {
        "endpoint": endpoint,
        "clients": clients,
        "warmup_s": warmup,
        "seconds": duration,
        "requests": figures["requests"],
        "rps": figures["requests"] / duration,
        "p50_ms": figures["p50_us"] / 1000,
        "p99_ms": figures["p99_us"] / 1000,
        "statuses": dict(sorted(statuses.items())),
        "non_2xx": non_2xx,
        "transport_errors": errors,
        "first_error": first_error,
        "client_cpu": client_used / elapsed,
        "server_cpu": server_used / elapsed if server is not None else None,
    }
