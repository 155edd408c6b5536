"""``python -m benchmarks.queries``: see ``./scripts/bench --queries`` and the package docstring."""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from pathlib import Path
from typing import Any

import sqlalchemy
import tortoise
from tortoise import Tortoise

import sqlrecord
from sqlrecord import Database

from ..targets import POOL_SIZE, Target, contestant_target, target
from . import tables
from .forms import Form, orm_forms, record_forms, tortoise_forms
from .tables import CONTESTANTS, QUICK, SMOKE, Sizes, reset

__all__ = ["main"]

ROOT = Path(__file__).resolve().parents[2]


async def _measure(url: str, form: Form, rounds: int, sizes: Sizes) -> dict[str, Any]:
    operation, contestant, label, prepare = form
    times: list[float] = []
    done = 0
    for _ in range(rounds):
        await reset(url, sizes)
        timed = await prepare()
        started = time.perf_counter()
        done = await timed()
        times.append(time.perf_counter() - started)
    seconds = statistics.median(times)
    per_operation = {"increment": sizes.counters, "annotate": sizes.reads, "group_by": sizes.reads}
    calls = per_operation.get(operation, 1)
    return {
        "operation": operation,
        "contestant": contestant,
        "form": label,
        "rows": done,
        "seconds": seconds,
        "ms_per_call": 1000 * seconds / calls,
        "rounds": [round(t, 6) for t in times],
    }


async def _run(where: Target, rounds: int, chosen: set[str], sizes: Sizes) -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = []
    if "sqlrecord" in chosen:
        results += await _run_sqlrecord(where, rounds, sizes)
    if "orm" in chosen:
        results += await _run_orm(where, rounds, sizes)
    if "tortoise" in chosen:
        results += await _run_tortoise(where, rounds, sizes)
    return results


async def _run_sqlrecord(where: Target, rounds: int, sizes: Sizes) -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = []
    place = contestant_target(where, "q-sqlrecord")
    database = Database(
        place.sqlalchemy_url, engine_options={"pool_size": POOL_SIZE, "max_overflow": 0}
    )
    try:
        for form in record_forms(database, sizes):
            results.append(await _measure(place.sqlalchemy_url, form, rounds, sizes))
            print(_line(results[-1]), flush=True)
    finally:
        await database.dispose()
    return results


async def _run_orm(where: Target, rounds: int, sizes: Sizes) -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = []
    place = contestant_target(where, "q-orm")
    forms, dispose = orm_forms(place.sqlalchemy_url, sizes)
    try:
        for form in forms:
            results.append(await _measure(place.sqlalchemy_url, form, rounds, sizes))
            print(_line(results[-1]), flush=True)
    finally:
        await dispose()
    return results


async def _run_tortoise(where: Target, rounds: int, sizes: Sizes) -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = []
    place = contestant_target(where, "q-tortoise")
    await reset(place.sqlalchemy_url, sizes)
    await Tortoise.init(db_url=place.tortoise_url, modules={"models": [tables.__name__]})
    try:
        for form in tortoise_forms(sizes):
            results.append(await _measure(place.sqlalchemy_url, form, rounds, sizes))
            print(_line(results[-1]), flush=True)
    finally:
        await Tortoise.close_connections()
    return results


def _line(result: dict[str, Any]) -> str:
    return (
        f"{result['operation']:<12} {result['contestant']:<10} "
        f"{result['ms_per_call']:9.3f} ms  {result['form']}"
    )


def _table(where: str, results: list[dict[str, Any]]) -> str:
    """The markdown table: each form's time, and the time of sqlrecord's first form of the
    operation divided by this form's (above 1: sqlrecord's form is slower)."""
    first: dict[tuple[str, str], dict[str, Any]] = {}
    for result in results:
        first.setdefault((result["operation"], result["contestant"]), result)
    if not any(contestant == "sqlrecord" for _, contestant in first):
        return "(sqlrecord was not run: no ratios)\n"
    lines = [
        f"Issue 20's query forms on {where} (median of the rounds; ms per call: one row's "
        "increment, one whole bulk_update, one annotate or group_by read).",
        "",
        "| operation | contestant | form | ms per call | sqlrecord's time ÷ this form's |",
        "|---|---|---|---:|---:|",
    ]
    for result in results:
        mine = first[(result["operation"], "sqlrecord")]["seconds"]
        ratio = mine / result["seconds"] if result["seconds"] else float("nan")
        lines.append(
            f"| {result['operation']} | {result['contestant']} | `{result['form']}` "
            f"| {result['ms_per_call']:.3f} | {ratio:.2f} |"
        )
    return "\n".join(lines) + "\n"


async def _main(args: argparse.Namespace) -> None:
    where = target(args.db)
    print(f"Query forms on {where.name}, {args.rounds} rounds", flush=True)
    sizes = SMOKE if args.smoke else QUICK
    results = await _run(where, args.rounds, set(args.contestants), sizes)
    versions = {
        "sqlrecord": sqlrecord.__version__,
        "sqlalchemy": sqlalchemy.__version__,
        "tortoise-orm": tortoise.__version__,
    }
    out = args.out or ROOT / ("var/bench/smoke" if args.smoke else "docs/benchmarks")
    out.mkdir(parents=True, exist_ok=True)
    table = _table(where.name, results)
    (out / f"queries-{where.name}.json").write_text(
        json.dumps({"versions": versions, "results": results}, indent=2) + "\n"
    )
    (out / f"queries-{where.name}.md").write_text(table)
    print(table)


def main() -> None:
    """Run the query-form benchmark (see the module docstring)."""
    parser = argparse.ArgumentParser(prog="benchmarks.queries", description=__doc__)
    parser.add_argument("--db", choices=["sqlite", "postgres", "mysql"], default="sqlite")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--smoke", action="store_true", help="a few rows: keeps it working")
    parser.add_argument(
        "--contestants", nargs="*", default=list(CONTESTANTS), choices=list(CONTESTANTS)
    )
    parser.add_argument("--out", type=Path, help="output folder (default: docs/benchmarks)")
    asyncio.run(_main(parser.parse_args()))


if __name__ == "__main__":
    main()
