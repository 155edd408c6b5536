"""Run every operation for every contestant in one process, alternating contestants per repeat.

For each operation and concurrency level: a warm-up round, then ``repeats`` rounds; in each
round every contestant runs once, the order rotated by one each round so that drift (the
database's caches, the machine's other load) reaches all contestants alike. The setup that
puts the tables in a known state runs before every timed run and is not timed. The rows at
each library's defaults run in a second pass, after the tuned rows (``contestants.passes``).
"""

from __future__ import annotations

import asyncio
import gc
import statistics
import time
import traceback
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from .contestants import chosen, load, passes
from .contestants.base import Contestant
from .operations import OPERATIONS, Operation, Plan, Seed, Sizes
from .schema import reset_schema, seed, seed_parents
from .targets import Target, contestant_target

__all__ = ["Measurement", "Setup", "percentile", "resolve_items", "run_all"]


@dataclass
class Measurement:
    """The timed runs of one contestant on one operation at one concurrency."""

    operation: str
    contestant: str
    concurrency: int
    rows: int
    seconds: list[float] = field(default_factory=list)
    status: str = "ok"  # ok, n/a, error
    note: str = ""

    @property
    def median_rate(self) -> float | None:
        """Rows per second of the median run."""
        if self.status != "ok" or not self.seconds:
            return None
        return self.rows / statistics.median(self.seconds)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready, with the statistics."""
        data = asdict(self)
        if self.status == "ok" and self.seconds:
            data["median_seconds"] = statistics.median(self.seconds)
            data["p95_seconds"] = percentile(self.seconds, 95)
            data["median_rows_per_second"] = self.median_rate
        return data


def percentile(values: list[float], share: float) -> float:
    """The ``share``-th percentile, linearly interpolated."""
    ordered = sorted(values)
    position = (len(ordered) - 1) * share / 100
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


class Setup:
    """Puts tables into the state an operation needs, skipping work already done."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.state: dict[str, tuple[str, int]] = {}

    async def prepare(self, seed_spec: Seed, *, force: bool) -> None:
        name = seed_spec.table.name
        if not force and self.state.get(name) == seed_spec.key:
            return
        if seed_spec.parents:
            await seed_parents(self.engine, 50, 10)
        else:
            rows = [seed_spec.make(n) for n in range(seed_spec.rows)]
            await seed(self.engine, seed_spec.table, rows)
        self.state[name] = seed_spec.key

    def forget(self, seed_spec: Seed) -> None:
        """The table was written to: seed it again before the next run that reads it."""
        self.state.pop(seed_spec.table.name, None)


async def resolve_items(contestant: Contestant, operation: Operation, plan: Plan) -> list[Any]:
    """The plan's items, with ids replaced by the contestant's handles where it needs them."""
    if not plan.ids_as_handles:
        return plan.items
    ids = [item[0] if isinstance(item, tuple) else item for item in plan.items]
    handles = await contestant.handles(operation.model, ids)
    return [
        (handle, item[1]) if isinstance(item, tuple) else handle
        for handle, item in zip(handles, plan.items, strict=True)
    ]


async def _timed_run(
    contestant: Contestant, operation: Operation, plan: Plan, concurrency: int
) -> tuple[float, int]:
    method = getattr(contestant, operation.method)
    items = await resolve_items(contestant, operation, plan)
    model = operation.model

    async def worker(chunk: list[Any]) -> int:
        total = 0
        for item in chunk:
            total += await method(model, item) or 0
        return total

    chunks = [items[n::concurrency] for n in range(concurrency)] if operation.per_item else [items]
    gc.collect()
    started = time.perf_counter()
    totals = await asyncio.gather(*(worker(chunk) for chunk in chunks))
    elapsed = time.perf_counter() - started
    return elapsed, sum(totals)


async def _measure(
    setups: dict[str, Setup],
    contestants: list[Contestant],
    operation: Operation,
    sizes: Sizes,
    concurrency: int,
    log: Any,
) -> list[Measurement]:
    plan = operation.plan(sizes)
    results = {
        c.name: Measurement(operation.key, c.name, concurrency, plan.rows) for c in contestants
    }
    running = []
    for contestant in contestants:
        if contestant.supports(operation.method):
            running.append(contestant)
        else:
            results[contestant.name].status = "n/a"
            results[contestant.name].note = contestant.not_available.get(operation.method, "")
    for round_number in range(sizes.warmup + sizes.repeats):
        shift = round_number % max(1, len(running))
        for contestant in running[shift:] + running[:shift]:
            result = results[contestant.name]
            if result.status != "ok":
                continue
            setup = setups[contestant.name]
            await setup.prepare(plan.seed, force=operation.mutates)
            if operation.mutates:
                setup.forget(plan.seed)  # whatever happens next, the seeded state is gone
            try:
                elapsed, total = await _timed_run(contestant, operation, plan, concurrency)
            except Exception as error:  # a contestant's failure is reported, not fatal
                result.status, result.note = "error", f"{type(error).__name__}: {error}"[:300]
                log(f"    {contestant.name}: ERROR {result.note}")
                log(traceback.format_exc(limit=3))
                continue
            if plan.expect is not None and total != plan.expect:
                result.status = "error"
                result.note = f"returned {total} rows, expected {plan.expect}"
                log(f"    {contestant.name}: {result.note}")
                continue
            if round_number >= sizes.warmup:
                result.seconds.append(elapsed)
    for result in results.values():
        if result.status == "ok":
            log(f"    {result.contestant:>17}: {result.median_rate:>12,.0f} {operation.unit}/s")
    return list(results.values())


async def _run_pass(
    target: Target,
    sizes: Sizes,
    names: list[str],
    operations: list[str] | None,
    concurrency_levels: tuple[int, ...],
    log: Any,
) -> tuple[list[Measurement], dict[str, str]]:
    """Start the contestants ``names``, measure every operation with them, stop them.

    On SQLite each contestant has a file of its own (``contestant_target``), with a setup
    of its own; on a server they share the database, and so one setup.
    """
    contestants = [load(name) for name in names]
    setups: dict[str, Setup] = {}
    by_url: dict[str, Setup] = {}
    versions: dict[str, str] = {}
    started: list[Contestant] = []  # stopped at the end, even when a later start fails
    measurements: list[Measurement] = []
    try:
        for contestant in contestants:
            where = contestant_target(target, contestant.name)
            if where.sqlalchemy_url not in by_url:
                engine = create_async_engine(where.sqlalchemy_url)
                by_url[where.sqlalchemy_url] = Setup(engine)
                await reset_schema(engine)
            setups[contestant.name] = by_url[where.sqlalchemy_url]
            await contestant.start(where)
            started.append(contestant)
            versions.update(contestant.versions())
            versions.update(contestant.driver_version())
        for operation in OPERATIONS:
            if operations and operation.key not in operations:
                continue
            for concurrency in concurrency_levels:
                if concurrency > 1 and not operation.concurrent:
                    continue
                log(f"{operation.key} ({operation.title}), concurrency {concurrency}")
                measurements += await _measure(
                    setups, contestants, operation, sizes, concurrency, log
                )
    finally:
        for contestant in started:
            await contestant.stop()
        for setup in by_url.values():
            await setup.engine.dispose()
    return measurements, versions


async def run_all(
    target: Target,
    sizes: Sizes,
    *,
    names: list[str] | None = None,
    operations: list[str] | None = None,
    concurrency_levels: tuple[int, ...] = (1, 10),
    log: Any = print,
) -> tuple[list[Measurement], dict[str, str]]:
    """Measure every operation; return the measurements and the versions of what ran.

    The tuned rows run first, then the defaults rows, each pass with its own contestants
    only (``contestants.passes`` says why).
    """
    measurements: list[Measurement] = []
    versions: dict[str, str] = {}
    for rows in passes(chosen(names, target)):
        log(f"Pass: {', '.join(rows)}")
        found, seen = await _run_pass(target, sizes, rows, operations, concurrency_levels, log)
        measurements += found
        versions.update(seen)
    return measurements, versions
