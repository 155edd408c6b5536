"""Peak memory of reading many rows: streaming versus ``all()``, each in a child process.

Every measurement runs in a fresh interpreter (``python -m benchmarks.memory child …``), so
one measurement's peak never carries into another's. The parent seeds the table first; the
child only reads. Peak RSS is the child's ``VmHWM`` (``/proc/self/status``), which starts
afresh at ``exec``; ``ru_maxrss`` would not do: Linux carries the parent's peak into it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import subprocess
import sys
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import create_async_engine

from .contestants import load
from .schema import NARROW, narrow_row, reset_schema, seed
from .targets import Target, target

__all__ = ["MEMORY_CONTESTANTS", "measure_memory"]

#: Contestants that have a streaming API (Tortoise and sqlactive have none).
MEMORY_CONTESTANTS = ("raw", "core", "orm", "sqlrecord")
SMALL_STREAM = 1000


def _peak_kib() -> int:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


async def _child(database: str, contestant_name: str, mode: str, rows: int) -> dict[str, Any]:
    contestant = load(contestant_name)
    await contestant.start(target(database))
    try:
        # Warm the code paths on a few rows so the baseline includes imports and compiled SQL.
        await contestant.stream("narrow", 10)  # type: ignore[attr-defined]
        await contestant.filter_many("narrow", 10)  # type: ignore[attr-defined]
        baseline = _peak_kib()
        method = "stream" if mode == "stream" else "filter_many"
        seen = await getattr(contestant, method)("narrow", rows)
    finally:
        await contestant.stop()
    return {"baseline_kib": baseline, "peak_kib": _peak_kib(), "rows": seen}


def _run_child(database: str, contestant: str, mode: str, rows: int) -> dict[str, Any]:
    command = [sys.executable, "-m", "benchmarks.memory", "child", database, contestant, mode]
    output = subprocess.run(
        [*command, str(rows)], check=True, capture_output=True, text=True
    ).stdout
    result: dict[str, Any] = json.loads(output.strip().splitlines()[-1])
    result.update(contestant=contestant, mode=mode, requested=rows)
    return result


async def measure_memory(
    where: Target, rows: int, *, contestants: tuple[str, ...] = MEMORY_CONTESTANTS, log: Any = print
) -> list[dict[str, Any]]:
    """Seed ``rows`` narrow rows, then measure stream(1k), stream(rows) and all(rows)."""
    engine = create_async_engine(where.sqlalchemy_url)
    await reset_schema(engine)
    await seed(engine, NARROW, [narrow_row(n) for n in range(rows)])
    await engine.dispose()
    results = []
    for contestant in contestants:
        for mode, count in (("stream", SMALL_STREAM), ("stream", rows), ("all", rows)):
            result = await asyncio.to_thread(_run_child, where.name, contestant, mode, count)
            log(
                f"  memory {contestant:>10} {mode:>6} {count:>7} rows: "
                f"peak {result['peak_kib'] / 1024:7.1f} MiB"
            )
            results.append(result)
    return results


def main() -> None:
    """``python -m benchmarks.memory child DATABASE CONTESTANT MODE ROWS``."""
    parser = argparse.ArgumentParser()
    parser.add_argument("role", choices=["child"])
    parser.add_argument("database")
    parser.add_argument("contestant")
    parser.add_argument("mode", choices=["stream", "all"])
    parser.add_argument("rows", type=int)
    args = parser.parse_args()
    result = asyncio.run(_child(args.database, args.contestant, args.mode, args.rows))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
