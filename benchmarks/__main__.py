"""``python -m benchmarks --db sqlite|postgres|mysql [--full|--smoke]`` (see scripts/bench)."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from .contestants import CONTESTANTS, GROUPS
from .machine import describe_machine
from .memory import MEMORY_CONTESTANTS, measure_memory
from .operations import SIZES
from .report import write_report
from .runner import run_all
from .targets import TARGETS, target

_ROOT = Path(__file__).resolve().parent.parent

#: Failures of a peer that are its own and are reported as "error" in the results, not
#: failures of this harness: Tortoise's upsert SQL is MySQL 8's, which MariaDB rejects.
KNOWN_ERRORS = {("mysql", "upsert", "tortoise"), ("mysql", "upsert", "tortoise-defaults")}


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="benchmarks", description=__doc__)
    parser.add_argument("--db", choices=list(TARGETS), default="sqlite")
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--full", action="store_true", help="the issue's full sizes")
    size.add_argument("--smoke", action="store_true", help="tiny sizes: keeps the harness alive")
    parser.add_argument("--only", nargs="*", help="operation keys to run (default: all)")
    parser.add_argument(
        "--contestants",
        nargs="*",
        choices=[*CONTESTANTS, *GROUPS],
        metavar="NAME",
        help="contestant names, or a group: 'defaults' (the rows at each library's defaults) "
        "or 'tuned' (the others); default: all",
    )
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-RSS children")
    parser.add_argument("--out", type=Path, help="output folder (default: docs/benchmarks)")
    return parser.parse_args()


async def _main(args: argparse.Namespace) -> None:
    sizes = SIZES["full" if args.full else "smoke" if args.smoke else "quick"]
    where = target(args.db)
    # Only a complete run replaces the results in docs/benchmarks.
    partial = args.smoke or args.only or args.contestants or args.no_memory
    folder = (
        "var/bench/smoke" if args.smoke else "var/bench/partial" if partial else "docs/benchmarks"
    )
    out = args.out or (_ROOT / folder)
    print(f"Benchmarks on {where.name}, {sizes.name} size -> {out}", flush=True)
    machine = await describe_machine(where)
    measurements, versions = await run_all(
        where,
        sizes,
        names=args.contestants,
        operations=args.only,
        log=lambda line: print(line, flush=True),
    )
    memory = []
    if not args.no_memory:
        # The smoke run only checks that the children work: sqlrecord alone.
        chosen = ("sqlrecord",) if args.smoke else MEMORY_CONTESTANTS
        memory = await measure_memory(where, sizes.memory_rows, contestants=chosen)
    page = write_report(
        out,
        machine=machine,
        versions=versions,
        sizes=sizes,
        measurements=measurements,
        memory=memory,
        charts=not args.smoke,
    )
    print(f"Wrote {page}")
    failures = [
        m
        for m in measurements
        if m.status == "error" and (where.name, m.operation, m.contestant) not in KNOWN_ERRORS
    ]
    for m in failures:
        print(f"FAILED: {m.operation} c={m.concurrency} {m.contestant}: {m.note}")
    if failures:
        raise SystemExit(1)


if __name__ == "__main__":
    asyncio.run(_main(_arguments()))
