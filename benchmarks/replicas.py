"""Read throughput with 0, 1 and 2 read replicas, and the share the primary still serves.

``python -m benchmarks.replicas --db postgres|mysql [--seconds 4] [--rounds 3]``
(inside ``.venv-bench`` or ``.venv``), against the replica servers of
``scripts/replicas`` (their URLs from ``scripts/replicas env``). Ten tasks in one process
read rows by primary key (``Model.get(pk)``, own sessions, as the docs teach) for a fixed
time; the same load runs against the primary alone, then with one replica, then with two,
alternating round by round. Each row gives the median reads per second and the share of
reads the primary served (from ``db.replica_stats()``).

All the servers run on this machine's cores beside the benchmark, so a replica adds no
hardware: reads per second can only show sqlrecord's routing cost, while the share of
reads taken off the primary is what a replica buys on machines of its own.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import subprocess
import time
from pathlib import Path

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from sqlrecord import BaseModel, Database, Replicas

__all__ = ["main"]

ROWS = 1000
TASKS = 10
ROOT = Path(__file__).resolve().parents[1]


class BenchReplicaRow(BaseModel):
    __tablename__ = "bench_replica_rows"

    name: Mapped[str] = mapped_column(String(40))


def _servers(db: str) -> tuple[str, list[str]]:
    printed = subprocess.run(
        [str(ROOT / "scripts" / "replicas"), "env"], capture_output=True, text=True, check=True
    ).stdout
    variables = dict(line.split("=", 1) for line in printed.splitlines() if "=" in line)
    kind = "POSTGRES" if db == "postgres" else "MYSQL"
    primary = variables[f"SQLRECORD_TEST_REPLICA_{kind}_URL"]
    replicas = variables[f"SQLRECORD_TEST_REPLICA_{kind}_REPLICAS"].split(",")
    return primary, replicas


async def _prepare(primary: str) -> None:
    setup = Database(primary, default=False)
    try:
        async with setup.engine.begin() as connection:
            await connection.run_sync(BenchReplicaRow.__table__.drop, checkfirst=True)  # type: ignore[attr-defined]
            await connection.run_sync(BenchReplicaRow.__table__.create)  # type: ignore[attr-defined]
            await connection.execute(
                BenchReplicaRow.__table__.insert(),  # type: ignore[attr-defined]
                [{"name": f"row{n}"} for n in range(ROWS)],
            )
    finally:
        await setup.dispose()
    await asyncio.sleep(1.0)  # replicated


async def _round(primary: str, replicas: list[str], seconds: float) -> tuple[float, float]:
    """Reads per second, and the share of them the primary served."""
    database = Database(primary, replicas=Replicas(replicas) if replicas else None, default=False)
    reads = 0
    try:
        with database.as_default():
            await BenchReplicaRow.get(1)  # connect, as a running service would have
            deadline = time.perf_counter() + seconds

            async def reader() -> None:
                nonlocal reads
                while time.perf_counter() < deadline:
                    await BenchReplicaRow.get(random.randint(1, ROWS))
                    reads += 1

            started = time.perf_counter()
            await asyncio.gather(*(reader() for _ in range(TASKS)))
            elapsed = time.perf_counter() - started
        stats = database.replica_stats()
        on_replicas = stats.replica_reads if replicas else 0
    finally:
        await database.dispose()
    total = reads + 1
    return reads / elapsed, (total - on_replicas) / total


async def _run(db: str, seconds: float, rounds: int) -> dict[str, dict[str, float]]:
    primary, replicas = _servers(db)
    await _prepare(primary)
    results: dict[int, list[tuple[float, float]]] = {0: [], 1: [], 2: []}
    for _ in range(rounds):
        for count in results:
            results[count].append(await _round(primary, replicas[:count], seconds))
    return {
        f"{count} replicas": {
            "reads_per_second": statistics.median(rate for rate, _ in measured),
            "primary_share": statistics.median(share for _, share in measured),
        }
        for count, measured in results.items()
    }


def main() -> None:
    """Measure and print the table (and write it to var/bench/replicas-<db>.json)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=["postgres", "mysql"], required=True)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--rounds", type=int, default=3)
    arguments = parser.parse_args()
    table = asyncio.run(_run(arguments.db, arguments.seconds, arguments.rounds))
    base = table["0 replicas"]["reads_per_second"]
    print(f"reads by primary key, {TASKS} tasks, {arguments.db}, cpu count {os.cpu_count()}")
    for name, row in table.items():
        rate = row["reads_per_second"]
        share = 100 * row["primary_share"]
        print(f"  {name}: {rate:9,.0f} reads/s ({rate / base:.2f}x), primary served {share:.0f}%")
    out = ROOT / "var" / "bench" / f"replicas-{arguments.db}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(table, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
