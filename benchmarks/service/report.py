"""The results: medians over rounds, the ratio to the hand-written app, markdown and JSON.

The markdown table is what docs/benchmarks-service.md shows; the JSON keeps every run
(each round's req/s, latencies, status counts, CPU shares), the sample answers, the
machine and the versions, so that a later run can be compared with this one.
"""

from __future__ import annotations

import json
import platform
import statistics
from importlib import metadata
from pathlib import Path
from typing import Any

from .load import ENDPOINTS, wrk_version
from .runner import SERVER_ENV, Size
from .server import KEEP_ALIVE_SECONDS

__all__ = ["LABELS", "TARGET", "summarise", "versions", "write_report"]

#: The issue's target: the service at >= 90 % of the hand-written app's req/s.
TARGET = 0.90
LABELS = {"sqlrecord": "sqlrecord (Notification API)", "plain": "hand-written SQLAlchemy"}
_DRIVERS = {"sqlite": "aiosqlite", "postgres": "asyncpg", "mysql": "aiomysql"}


def versions(db: str) -> dict[str, str]:
    """Python and the packages on the request path."""
    names = ["sqlrecord", "SQLAlchemy", _DRIVERS[db], "fastapi", "starlette", "pydantic"]
    names += ["uvicorn", "h11", "PyJWT", "alembic"]
    found = {"python": platform.python_version(), "load generator": wrk_version() or "missing"}
    for name in names:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "missing"
    return found


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Per endpoint: each app's medians over rounds, and sqlrecord ÷ hand-written req/s."""
    summary: dict[str, Any] = {}
    for endpoint in ENDPOINTS:
        apps: dict[str, Any] = {}
        for app in LABELS:
            mine = [run for run in runs if run["app"] == app and run["endpoint"] == endpoint]
            if not mine:
                continue
            apps[app] = {
                "rps": statistics.median(run["rps"] for run in mine),
                "p50_ms": statistics.median(run["p50_ms"] for run in mine),
                "p99_ms": statistics.median(run["p99_ms"] for run in mine),
                "server_cpu": statistics.median(run["server_cpu"] for run in mine),
                # CPU time of the server per request: less at the mercy of a busy machine
                # than req/s (a starved server is slow, not more expensive per request).
                "cpu_ms_per_request": statistics.median(
                    run["server_cpu"] / run["rps"] * 1000 for run in mine
                ),
                "client_cpu": statistics.median(run["client_cpu"] for run in mine),
                "rounds_rps": [round(run["rps"], 1) for run in mine],
                "non_2xx": sum(run["non_2xx"] for run in mine),
            }
        if len(apps) == len(LABELS):
            ratio = apps["sqlrecord"]["rps"] / apps["plain"]["rps"]
            cost = {app: figures["cpu_ms_per_request"] for app, figures in apps.items()}
            cpu_ratio = cost["sqlrecord"] / cost["plain"]
            summary[endpoint] = {
                "apps": apps,
                "ratio": ratio,
                "cpu_ratio": cpu_ratio,
                "target_met": ratio >= TARGET,
            }
    return summary


def _markdown(
    db: str,
    size: Size,
    machine: dict[str, Any],
    found: dict[str, str],
    summary: dict[str, Any],
    runs: list[dict[str, Any]],
) -> str:
    loads = [run[key] for run in runs for key in ("loadavg_before", "loadavg_after")]
    load = f"{min(loads):.2f} to {max(loads):.2f}" if loads else "unknown"
    lines = [
        f"# Service benchmark: {db}",
        "",
        f"{machine['date']}; {machine['cpu']}, {machine['cores']} cores; {machine['os']}; "
        f"Python {found['python']}; {machine['server']}.",
        "",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in found.items() if k != "python") + ".",
        "",
        f"Method: each app served by uvicorn (one process, asyncio loop, h11) on 127.0.0.1; "
        f"load from wrk in a separate process (one thread, {size.clients} keep-alive "
        f"connections), {size.warmup:g} s warm-up then {size.seconds:g} s measured per "
        f"endpoint; a fresh schema (the service's migration) and seed per app and round; "
        f"the apps alternated over {size.rounds} round(s), order flipped each round; "
        "medians over rounds. Both servers: "
        + ", ".join(f"`{k}={v}`" for k, v in SERVER_ENV.items())
        + " (the delivery worker is off for both), the service's access-log middleware "
        "in both (its logger below INFO: no output); uvicorn keep-alive "
        f"{KEEP_ALIVE_SECONDS} s for both. Every run: 0 non-2xx responses, 0 transport "
        f"errors. The machine's 1-minute load average during the runs: {load}.",
        "",
        "| App | Endpoint | req/s (median) | p50 ms | p99 ms | server CPU | CPU ms/req "
        "| req/s per round |",
        "|---|---|---:|---:|---:|---:|---:|---|",
    ]
    for endpoint, result in summary.items():
        for app, figures in result["apps"].items():
            rounds = " / ".join(f"{rps:.0f}" for rps in figures["rounds_rps"])
            lines.append(
                f"| {LABELS[app]} | `{ENDPOINTS[endpoint]}` | {figures['rps']:.0f} | "
                f"{figures['p50_ms']:.1f} | {figures['p99_ms']:.1f} | "
                f"{figures['server_cpu']:.0%} | {figures['cpu_ms_per_request']:.2f} | {rounds} |"
            )
    lines += [
        "",
        f"| Endpoint | sqlrecord ÷ hand-written req/s | target ≥ {TARGET:.0%} "
        "| CPU per request, sqlrecord ÷ hand-written |",
        "|---|---:|---|---:|",
    ]
    for endpoint, result in summary.items():
        verdict = "met" if result["target_met"] else "**missed**"
        lines.append(
            f"| `{ENDPOINTS[endpoint]}` | {result['ratio']:.1%} | {verdict} "
            f"| {result['cpu_ratio']:.2f} |"
        )
    lines.append("")
    return "\n".join(lines)


def write_report(
    folder: Path,
    *,
    db: str,
    size: Size,
    machine: dict[str, Any],
    runs: list[dict[str, Any]],
    samples: dict[str, Any],
) -> tuple[Path, str]:
    """Write ``service-<db>.md`` and ``.json`` into ``folder``; the page and its text."""
    folder.mkdir(parents=True, exist_ok=True)
    found = versions(db)
    summary = summarise(runs)
    text = _markdown(db, size, machine, found, summary, runs)
    page = folder / f"service-{db}.md"
    page.write_text(text)
    document = {
        "database": db,
        "size": size.__dict__,
        "machine": machine,
        "versions": found,
        "server_settings": SERVER_ENV,
        "target": TARGET,
        "summary": summary,
        "samples": samples,
        "runs": runs,
    }
    (folder / f"service-{db}.json").write_text(json.dumps(document, indent=2) + "\n")
    return page, text
