"""``python -m benchmarks.service.profile --db sqlite --endpoint me``: where each app's time goes.

Serves each app with pyinstrument sampling its main thread (``server.py --profile``),
runs the same load as the benchmark, and splits the sampled time by the package that
spent it (its own time, not inclusive): sqlrecord, SQLAlchemy, the driver, FastAPI /
Starlette / pydantic, uvicorn / h11, the event loop (idle included), the app's own
code. Each share is divided by the requests served, so the two columns are the cost
of one request in microseconds of the server's main thread, comparable side by side;
the difference is what sqlrecord adds (or saves). The functions of sqlrecord with the
most inclusive time follow. Profiling slows both apps alike: use the ratios of the
benchmark itself for speed, and this for where the time goes.
"""

from __future__ import annotations

import argparse
import asyncio
from collections import defaultdict
from pathlib import Path
from typing import Any

from pyinstrument.session import Session

from .databases import ensure_database, reset_schema, seed
from .load import ENDPOINTS
from .runner import LOGS, Server, Size, _load, new_secrets, take_samples
from .server import APPS

__all__ = ["BUCKETS", "bucket_of", "main", "profile_apps"]

#: (label, substrings of a file path): the first match names the package.
BUCKETS = (
    ("sqlrecord", ("/sqlrecord/",)),
    ("Notification API code", ("/notification_api/",)),
    ("hand-written app code", ("/benchmarks/service/",)),
    ("SQLAlchemy", ("/sqlalchemy/", "<sqlalchemy generated")),
    ("driver", ("/asyncpg/", "/aiosqlite/", "/aiomysql/", "/pymysql/", "sqlite3")),
    ("FastAPI, Starlette, pydantic", ("/fastapi/", "/starlette/", "/pydantic", "/anyio/")),
    ("uvicorn, h11", ("/uvicorn/", "/h11/")),
    ("PyJWT, json, hmac", ("/jwt/", "/json/", "hmac", "base64")),
    ("event loop (idle included)", ("/asyncio/", "selectors", "<built-in>")),
)


def bucket_of(path: str | None) -> str:
    """The label of the package a file belongs to ("other" when none matches)."""
    for label, parts in BUCKETS:
        if path and any(part in path for part in parts):
            return label
    return "other"


def _walk(frame: Any, own: dict[str, float], sqlrecord: dict[str, float], seen: set[str]) -> None:
    path = frame.file_path or ""
    if frame.is_synthetic:
        # [self] and [await] leaves: their time is their parent's own time.
        return
    own[bucket_of(path)] += frame.total_self_time
    name = f"{frame.function} ({frame.file_path_short}:{frame.line_no})"
    if "/sqlrecord/" in path and name not in seen:
        sqlrecord[name] += frame.time
    for child in frame.children:
        _walk(child, own, sqlrecord, seen | {name})


async def profile_apps(db: str, endpoint: str, size: Size) -> str:
    """Profile both apps under the benchmark's load; a markdown report."""
    await ensure_database(db)
    jwt_secret, encryption_key = new_secrets()
    per_request: dict[str, dict[str, float]] = {}
    top: dict[str, dict[str, float]] = {}
    served: dict[str, int] = {}
    for app in APPS:
        await reset_schema(db)
        credentials = await seed(db, jwt_secret, encryption_key)
        target = LOGS / f"profile-{db}-{app}-{endpoint}.pyisession"
        target.unlink(missing_ok=True)
        async with Server(app, db, jwt_secret, encryption_key, profile=target) as server:
            await take_samples(server.url, credentials)
            result = await _load(server, endpoint, credentials, size)
        session = Session.load(str(target))
        own: dict[str, float] = defaultdict(float)
        sqlrecord: dict[str, float] = defaultdict(float)
        root = session.root_frame()
        if root is not None:
            _walk(root, own, sqlrecord, set())
        # Everything the server did over its life: warm-up, window and start-up samples
        # alike; divided by every request it answered (2xx counted by the load).
        answered = sum(result["statuses"].values()) + 2
        served[app] = answered
        per_request[app] = {k: v / answered * 1e6 for k, v in own.items()}
        top[app] = {k: v / answered * 1e6 for k, v in sqlrecord.items()}
    return _markdown(db, endpoint, per_request, top, served)


def _markdown(
    db: str,
    endpoint: str,
    per_request: dict[str, dict[str, float]],
    top: dict[str, dict[str, float]],
    served: dict[str, int],
) -> str:
    labels = [label for label, _ in BUCKETS] + ["other"]
    lines = [
        f"Profile of `{ENDPOINTS[endpoint]}` on {db} (µs of the server's main thread per "
        f"request; requests: sqlrecord {served['sqlrecord']}, hand-written {served['plain']})",
        "",
        "| Spent in | sqlrecord app | hand-written | difference |",
        "|---|---:|---:|---:|",
    ]
    for label in labels:
        mine, theirs = (
            per_request["sqlrecord"].get(label, 0.0),
            per_request["plain"].get(label, 0.0),
        )
        if mine or theirs:
            lines.append(f"| {label} | {mine:.0f} | {theirs:.0f} | {mine - theirs:+.0f} |")
    total_mine, total_theirs = (
        sum(per_request["sqlrecord"].values()),
        sum(per_request["plain"].values()),
    )
    lines.append(
        f"| **total** | {total_mine:.0f} | {total_theirs:.0f} | {total_mine - total_theirs:+.0f} |"
    )
    lines += ["", "sqlrecord functions by inclusive time (µs per request):", ""]
    for name, spent in sorted(top["sqlrecord"].items(), key=lambda kv: -kv[1])[:12]:
        lines.append(f"- {spent:.0f} µs {name}")
    return "\n".join(lines) + "\n"


def main() -> None:
    """Parse the arguments, profile both apps, print the report."""
    parser = argparse.ArgumentParser(prog="benchmarks.service.profile", description=__doc__)
    parser.add_argument("--db", choices=("sqlite", "postgres", "mysql"), default="sqlite")
    parser.add_argument("--endpoint", choices=list(ENDPOINTS), default="me")
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--out", type=Path, help="also write the report here")
    args = parser.parse_args()
    size = Size("profile", rounds=1, warmup=1.0, seconds=args.seconds, clients=args.clients)
    report = asyncio.run(profile_apps(args.db, args.endpoint, size))
    print(report)
    if args.out:
        args.out.write_text(report)


if __name__ == "__main__":
    main()
