"""``_internals.greenlets.call_sync_api`` runs SQLAlchemy's synchronous API in greenlets
kept for the next call: each case runs the same function through it and through
SQLAlchemy's own ``greenlet_spawn`` and compares what the caller sees (results, errors,
cancellation, context variables), and checks that greenlets are reused."""

from __future__ import annotations

import asyncio
import contextvars
import threading
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from greenlet import getcurrent  # type: ignore[import-untyped]
from sqlalchemy.util import await_only, greenlet_spawn

from sqlrecord._internals import greenlets
from sqlrecord._internals.greenlets import call_sync_api

Runner = Callable[..., Awaitable[Any]]
RUNNERS = [pytest.param(call_sync_api, id="kept"), pytest.param(greenlet_spawn, id="spawned")]

_seen: contextvars.ContextVar[str] = contextvars.ContextVar("_seen", default="unset")


def _waits_twice(first: float, second: str) -> list[Any]:
    got = [await_only(asyncio.sleep(first, "one")), await_only(asyncio.sleep(0, second))]
    return [*got, _seen.get()]


def _fails_after_waiting() -> None:
    await_only(asyncio.sleep(0))
    raise LookupError("no such row")


def _sets_context() -> str:
    before = _seen.get()
    _seen.set("set inside")
    return before


@pytest.mark.parametrize("runner", RUNNERS)
async def test_results_errors_and_context_as_a_spawned_greenlet(runner: Runner) -> None:
    _seen.set("the caller's")
    assert await runner(_waits_twice, 0, "two") == ["one", "two", "the caller's"]
    with pytest.raises(LookupError, match="no such row"):
        await runner(_fails_after_waiting)
    assert await runner(_sets_context) == "the caller's"
    assert _seen.get() == "set inside"  # one context, the caller's, as greenlet_spawn shares


@pytest.mark.parametrize("runner", RUNNERS)
async def test_a_cancelled_wait_reaches_the_function_and_the_caller(runner: Runner) -> None:
    heard: list[str] = []

    def waits_long() -> None:
        try:
            await_only(asyncio.sleep(30))
        except asyncio.CancelledError:
            heard.append("cancelled inside")
            raise

    task = asyncio.ensure_future(runner(waits_long))
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert heard == ["cancelled inside"]
    assert await runner(_waits_twice, 0, "after") == ["one", "after", "unset"]


async def test_greenlets_are_kept_and_reused() -> None:
    await call_sync_api(len, "warm")
    kept = list(greenlets._idle.workers)
    assert kept
    used: list[Any] = []
    await call_sync_api(lambda: used.append(getcurrent()))
    assert used[0] is kept[-1]  # the idle one, not a new one
    # Calls at once take a greenlet each, and leave them all idle afterwards.
    results = await asyncio.gather(*(call_sync_api(_waits_twice, 0.01, str(n)) for n in range(20)))
    assert [result[1] for result in results] == [str(n) for n in range(20)]
    assert 20 <= len(greenlets._idle.workers) <= greenlets._KEPT


def test_each_thread_keeps_its_own() -> None:
    answers: list[Any] = []

    def in_thread() -> None:
        answers.append(asyncio.run(call_sync_api(_waits_twice, 0, "thread")))
        answers.append(len(greenlets._idle.workers))

    threads = [threading.Thread(target=in_thread) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert answers == [["one", "thread", "unset"], 1] * 3
