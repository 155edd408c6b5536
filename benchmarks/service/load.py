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
the result, and the runner reports such a run as an error, never as a speed.

The ``GET`` is built once per call (a bearer token is the same for every request). The
signed ``POST`` cannot be: the service accepts each nonce once (scheme
``NAPI-HMAC-SHA256-V2``), so wrk's Lua ``request()`` hook signs every request itself,
with the clock's timestamp and a nonce of its own (a random prefix per wrk run and a
counter), in LuaJIT: SHA-256 and HMAC written out below, the key's inner and outer
blocks hashed once at start-up and the body's hash computed here, so a request costs
wrk about five SHA-256 blocks. The same script serves both apps.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import resource
import secrets
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

__all__ = [
    "ENDPOINTS",
    "NOTIFICATION",
    "SCHEME",
    "LoadError",
    "new_nonce",
    "request_of",
    "run_load",
    "sign_v2",
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
#: The signature scheme of every signed request (docs/notification-api.md).
SCHEME = "NAPI-HMAC-SHA256-V2"
#: The signed route: its method and path are part of what is signed.
NOTIFY_METHOD, NOTIFY_PATH = "POST", "/api/services/notifications"
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


def new_nonce() -> str:
    """A fresh nonce: 24 characters of ``A-Z a-z 0-9 - _`` (the service takes 16 to 64)."""
    return secrets.token_urlsafe(18)


def _body_sha256(body: str) -> str:
    return hashlib.sha256(body.encode()).hexdigest()


def sign_v2(secret_key: str, method: str, path: str, query: str, body: str) -> str:
    """The V2 ``secret`` header, computed as a client would (docs/notification-api.md).

    ``query`` must already be canonical (names sorted, nothing to percent-encode), as
    the benchmark's always is. Written out here rather than imported from the service:
    the two apps' 202s then prove that the service's computation agrees with a
    client's (and the Lua signer's, the same text, with this one's).
    """
    text = "\n".join([SCHEME, method.upper(), path, query, _body_sha256(body)])
    digest = hmac.new(secret_key.encode(), text.encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def _signed_query(access_key: str, timestamp: int, nonce: str) -> str:
    # Already canonical: names in order (key < nonce < timestamp), values URL-safe.
    return f"key={access_key}&nonce={nonce}&timestamp={timestamp}"


def request_of(endpoint: str, credentials: dict[str, str]) -> tuple[str, str, dict[str, str], str]:
    """(method, path with query, headers, body) of one request to ``endpoint``.

    A signed request gets a new nonce on every call: send each one once.
    """
    if endpoint == "me":
        return "GET", "/api/users/me", {"authorization": f"Bearer {credentials['token']}"}, ""
    body = json.dumps(NOTIFICATION)
    query = _signed_query(credentials["access_key"], int(time.time()), new_nonce())
    headers = {
        "secret": sign_v2(credentials["secret_key"], NOTIFY_METHOD, NOTIFY_PATH, query, body),
        "x-signature-scheme": SCHEME,
        "content-type": "application/json",
    }
    return NOTIFY_METHOD, f"{NOTIFY_PATH}?{query}", headers, body


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
{signer}
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

# V2 signing per request (LuaJIT's ``bit`` library: 32-bit operations). HMAC-SHA256 as
# RFC 2104 has it; the states after the key's inner and outer pad blocks are computed
# once, so each request hashes its canonical text (about 4 blocks) and the inner digest
# (1 block). ``init`` gets this wrk run's nonce prefix as its argument.
_SIGNER = """
local bit = require("bit")
local band, bor, bxor, bnot = bit.band, bit.bor, bit.bxor, bit.bnot
local lshift, rshift, ror, tobit = bit.lshift, bit.rshift, bit.ror, bit.tobit
local byte, char, rep, concat = string.byte, string.char, string.rep, table.concat
local K = {{
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
}}
for i = 1, 64 do K[i] = tobit(K[i]) end
local W = {{}}

local function compress(H, s, at)
  for j = 0, 15 do
    local a, b, c, d = byte(s, at + 4 * j, at + 4 * j + 3)
    W[j] = bor(lshift(a, 24), lshift(b, 16), lshift(c, 8), d)
  end
  for j = 16, 63 do
    local x, y = W[j - 15], W[j - 2]
    local s0 = bxor(ror(x, 7), ror(x, 18), rshift(x, 3))
    local s1 = bxor(ror(y, 17), ror(y, 19), rshift(y, 10))
    W[j] = tobit(W[j - 16] + s0 + W[j - 7] + s1)
  end
  local a, b, c, d, e, f, g, h = H[1], H[2], H[3], H[4], H[5], H[6], H[7], H[8]
  for j = 0, 63 do
    local t1 = tobit(h + bxor(ror(e, 6), ror(e, 11), ror(e, 25))
      + bxor(band(e, f), band(bnot(e), g)) + K[j + 1] + W[j])
    local t2 = tobit(bxor(ror(a, 2), ror(a, 13), ror(a, 22))
      + bxor(band(a, b), band(a, c), band(b, c)))
    h, g, f, e, d, c, b, a = g, f, e, tobit(d + t1), c, b, a, tobit(t1 + t2)
  end
  H[1], H[2], H[3], H[4] = tobit(H[1] + a), tobit(H[2] + b), tobit(H[3] + c), tobit(H[4] + d)
  H[5], H[6], H[7], H[8] = tobit(H[5] + e), tobit(H[6] + f), tobit(H[7] + g), tobit(H[8] + h)
end

local function be32(x)
  return char(band(rshift(x, 24), 255), band(rshift(x, 16), 255), band(rshift(x, 8), 255),
    band(x, 255))
end

-- SHA-256 of (what made ``state``: ``done`` bytes, whole blocks) .. ``s``.
local function finish(state, done, s)
  local H = {{state[1], state[2], state[3], state[4], state[5], state[6], state[7], state[8]}}
  local bits = (done + #s) * 8
  s = s .. "\\128" .. rep("\\0", (55 - #s) % 64) .. be32(0) .. be32(bits)
  for at = 1, #s, 64 do compress(H, s, at) end
  local out = {{}}
  for i = 1, 8 do out[i] = be32(H[i]) end
  return concat(out)
end

local function padded_state(key, pad)
  local H = {{
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
  }}
  for i = 1, 8 do H[i] = tobit(H[i]) end
  key = key .. rep("\\0", 64 - #key)
  local block = {{}}
  for i = 1, 64 do block[i] = char(bxor(byte(key, i), pad)) end
  compress(H, concat(block), 1)
  return H
end

local B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
local function base64(s)
  local out = {{}}
  for i = 1, #s, 3 do
    local a, b, c = byte(s, i, i + 2)
    local n = a * 65536 + (b or 0) * 256 + (c or 0)
    local q = {{
      B64:sub(rshift(n, 18) + 1, rshift(n, 18) + 1),
      B64:sub(band(rshift(n, 12), 63) + 1, band(rshift(n, 12), 63) + 1),
      b and B64:sub(band(rshift(n, 6), 63) + 1, band(rshift(n, 6), 63) + 1) or "=",
      c and B64:sub(band(n, 63) + 1, band(n, 63) + 1) or "=",
    }}
    out[#out + 1] = concat(q)
  end
  return concat(out)
end

local inner = padded_state({secret_key}, 0x36)
local outer = padded_state({secret_key}, 0x5c)
local function hmac(text)
  return finish(outer, 64, finish(inner, 64, text))
end

local head = {canonical_head}
local tail = {canonical_tail}
local path_head = {path_head}
local prefix = ""
local counter = 0

function init(args)
  prefix = args[1]
end

function request()
  counter = counter + 1
  local query = "key=" .. {access_key} .. "&nonce=" .. prefix .. counter
    .. "&timestamp=" .. os.time()
  wrk.headers["secret"] = base64(hmac(head .. query .. tail))
  return wrk.format(nil, path_head .. query)
end

-- Self-check (``wrk ... -- check``): print the HMAC of a fixed text and stop.
if {self_check} then
  io.write(base64(hmac("abc")) .. "\\n")
  os.exit(0)
end
"""


def _script(
    method: str,
    path: str,
    headers: dict[str, str],
    body: str,
    credentials: dict[str, str] | None = None,
    *,
    self_check: bool = False,
) -> str:
    """The Lua script of one endpoint: a fixed request, or (with ``credentials``) the
    signed ``POST``, signed anew per request."""
    signer = ""
    if credentials is not None:
        # HMAC hashes a key longer than a block first; the Lua signer does not.
        if len(credentials["secret_key"].encode()) > 64:
            raise LoadError("The Lua signer takes secret keys of up to 64 bytes.")
        signer = _SIGNER.format(
            secret_key=_lua_string(credentials["secret_key"]),
            access_key=_lua_string(credentials["access_key"]),
            canonical_head=_lua_string(f"{SCHEME}\n{method.upper()}\n{path.split('?')[0]}\n"),
            canonical_tail=_lua_string(f"\n{_body_sha256(body)}"),
            path_head=_lua_string(path.split("?")[0] + "?"),
            self_check="true" if self_check else "false",
        )
        headers = {name: value for name, value in headers.items() if name != "secret"}
    header_lines = "\n".join(
        f"wrk.headers[ {_lua_string(name)} ] = {_lua_string(value)}"
        for name, value in headers.items()
    )
    return _SCRIPT.format(
        method=_lua_string(method),
        path=_lua_string(path),
        body=_lua_string(body),
        headers=header_lines,
        signer=signer,
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
    # The script's argument: a nonce prefix of this wrk run alone (its counter starts at 1).
    command += ["-s", str(script), url, "--", new_nonce()[:16]]
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
    method, path, headers, body = request_of(endpoint, credentials)
    signer = credentials if endpoint == "notify" else None
    server = psutil.Process(server_pid) if server_pid else None
    with tempfile.TemporaryDirectory(prefix="bench-wrk-") as folder:
        script = Path(folder) / "request.lua"
        script.write_text(_script(method, path, headers, body, signer))
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
