"""``python -m benchmarks.service [--db sqlite|postgres|mysql] [--seconds S] [--smoke]``.

Also reached as ``./scripts/bench --service --db ...``. A full run writes
docs/benchmarks/service-<db>.md and .json; ``--smoke`` (one short round, well under a
minute) writes to var/bench/service/smoke/ and only proves the harness works.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import sys
from pathlib import Path

from ..machine import describe_machine
from ..targets import Target
from .databases import URLS
from .load import ENDPOINTS
from .report import write_report
from .runner import SIZES, BenchmarkError, run_rounds

_ROOT = Path(__file__).resolve().parents[2]


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="benchmarks.service", description=__doc__)
    parser.add_argument("--db", choices=list(URLS), default="sqlite")
    parser.add_argument("--smoke", action="store_true", help="1 round of 2 s: CI keeps it alive")
    parser.add_argument("--seconds", type=float, help="measured seconds per run (default 8)")
    parser.add_argument("--warmup", type=float, help="warm-up seconds per run (default 2)")
    parser.add_argument("--rounds", type=int, help="rounds per app (default 3)")
    parser.add_argument("--clients", type=int, help="concurrent clients (default 50)")
    parser.add_argument("--only", nargs="*", choices=list(ENDPOINTS), help="endpoints to load")
    parser.add_argument("--out", type=Path, help="output folder (default: docs/benchmarks)")
    return parser.parse_args()


async def _main(args: argparse.Namespace) -> int:
    size = SIZES["smoke" if args.smoke else "default"]
    changes = {
        name: value
        for name in ("seconds", "warmup", "rounds", "clients")
        if (value := getattr(args, name)) is not None
    }
    size = dataclasses.replace(size, **changes)
    endpoints = tuple(args.only or ENDPOINTS)
    partial = args.smoke or changes or args.only
    folder = (
        "var/bench/service/smoke"
        if args.smoke
        else ("var/bench/service/partial" if partial else "docs/benchmarks")
    )
    out = args.out or _ROOT / folder
    print(
        f"Service benchmark on {args.db}: {size.rounds} round(s) x {len(endpoints)} endpoint(s) "
        f"x 2 apps, {size.warmup:g} s warm-up + {size.seconds:g} s, {size.clients} clients "
        f"-> {out}",
        flush=True,
    )
    try:
        runs, samples = await run_rounds(
            args.db, size, endpoints=endpoints, log=lambda line: print(line, flush=True)
        )
    except BenchmarkError as error:
        print(f"ERROR: {error}", file=sys.stderr)
        return 1
    machine = await describe_machine(
        Target(name=args.db, sqlalchemy_url=URLS[args.db], tortoise_url="")
    )
    page, text = write_report(
        out, db=args.db, size=size, machine=machine, runs=runs, samples=samples
    )
    print()
    print(text)
    print(f"Wrote {page} and {page.with_suffix('.json')}")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(_main(_arguments())))
