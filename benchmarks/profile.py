"""Where one contestant spends its time on one operation (pyinstrument, untimed setup).

``python -m benchmarks.profile --db sqlite --op F --contestant sqlrecord [--repeat 3]``
prints the functions with the most time of their own, and the inclusive time of each
sqlrecord and SQLAlchemy function on the way, each as a share of the operation's time.
"""

from __future__ import annotations

import argparse
import asyncio
from collections import defaultdict
from typing import Any

from pyinstrument import Profiler
from sqlalchemy.ext.asyncio import create_async_engine

from .contestants import load
from .operations import OPERATIONS, SIZES
from .runner import Setup, resolve_items
from .schema import reset_schema
from .targets import contestant_target, target

__all__ = ["profile"]


def _walk(frame: Any, own: dict[str, float], inclusive: dict[str, float], path: set[str]) -> None:
    if frame.is_synthetic:  # "[self]" and "[await]" leaves: counted by their parent
        if frame.function == "[await]":
            own["[await] waiting on the database or the driver's thread"] += frame.time
        return
    name = f"{frame.function} ({frame.file_path_short}:{frame.line_no})"
    own[name] += frame.total_self_time
    if name not in path:  # count a recursive function once per stack
        inclusive[name] += frame.time
    for child in frame.children:
        _walk(child, own, inclusive, path | {name})


async def profile(database: str, key: str, contestant_name: str, repeat: int) -> str:
    """Profile ``repeat`` runs of operation ``key`` (quick size, concurrency 1)."""
    where, sizes = contestant_target(target(database), contestant_name), SIZES["quick"]
    operation = next(op for op in OPERATIONS if op.key == key)
    plan = operation.plan(sizes)
    engine = create_async_engine(where.sqlalchemy_url)
    await reset_schema(engine)
    setup, contestant = Setup(engine), load(contestant_name)
    await contestant.start(where)
    method = getattr(contestant, operation.method)
    profiler = Profiler(async_mode="enabled", interval=0.0005)
    for _ in range(repeat):
        await setup.prepare(plan.seed, force=True)
        items = await resolve_items(contestant, operation, plan)
        profiler.start()
        for item in items:
            await method(operation.model, item)
        profiler.stop()
    await contestant.stop()
    await engine.dispose()
    session = profiler.last_session
    root = session.root_frame() if session else None
    if root is None:
        return "no samples"
    own: dict[str, float] = defaultdict(float)
    inclusive: dict[str, float] = defaultdict(float)
    _walk(root, own, inclusive, set())
    total = root.time
    lines = [f"{contestant_name} {key} on {database}: {total:.3f} s sampled", "", "Own time:"]
    for name, seconds in sorted(own.items(), key=lambda kv: -kv[1])[:25]:
        lines.append(f"  {seconds / total:6.1%}  {name}")
    lines += ["", "Inclusive time (sqlrecord and sqlalchemy frames):"]
    shown = [
        (name, seconds)
        for name, seconds in inclusive.items()
        if "sqlrecord" in name or "sqlalchemy" in name
    ]
    for name, seconds in sorted(shown, key=lambda kv: -kv[1])[:60]:
        lines.append(f"  {seconds / total:6.1%}  {name}")
    tree = profiler.output_text(unicode=False, color=False, show_all=False, time="percent_of_total")
    return "\n".join([*lines, "", "Call tree (library frames collapsed):", tree])


def main() -> None:
    """Command line entry point."""
    parser = argparse.ArgumentParser(prog="benchmarks.profile")
    parser.add_argument("--db", default="sqlite")
    parser.add_argument("--op", required=True)
    parser.add_argument("--contestant", default="sqlrecord")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(asyncio.run(profile(args.db, args.op, args.contestant, args.repeat)))


if __name__ == "__main__":
    main()
