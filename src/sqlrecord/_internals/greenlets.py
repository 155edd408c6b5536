"""SQLAlchemy's synchronous API run from async code, in greenlets kept for the next call.

SQLAlchemy's asyncio layer runs its synchronous code (a pool's checkout, a
``Connection``'s execution) in a greenlet: where that code must wait on the event loop,
``await_`` switches to the greenlet's parent with the awaitable, and the parent awaits
it and switches back with the result. ``greenlet_spawn`` makes a new greenlet for each
call. Made and freed in the middle of a call, one costs far more than switching into one
that exists: on a two-core machine an own ``create`` on PostgreSQL, whose route takes a
pool connection and gives it back (two calls), spent about 75 µs less CPU with the two
greenlets kept (345 → 270 µs per call, ``docs/benchmarks.md``). :func:`call_sync_api`
keeps idle greenlets per thread and hands each call one of them.

What ``await_`` asks of the greenlet it runs in is SQLAlchemy's private protocol: the
``__sqlalchemy_greenlet_provider__`` marker, and the awaitable sent to ``parent``
(SQLAlchemy 2.0 and 2.1 alike). The greenlet module is the one SQLAlchemy's ``asyncio``
extra installs.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from greenlet import GreenletExit, getcurrent, greenlet  # type: ignore[import-untyped]

__all__ = ["call_sync_api"]

_T = TypeVar("_T")

#: Idle greenlets kept per thread, at most: as many as calls ran at once, up to this.
_KEPT = 64


class _Worker(greenlet):  # type: ignore[misc]  # greenlet's class is untyped
    """A greenlet SQLAlchemy's ``await_`` may wait in, which runs one call after another."""

    __sqlalchemy_greenlet_provider__ = True


class _Answer:
    """What a call gave: its result, or the error it raised."""

    __slots__ = ("error", "result")

    def __init__(self, result: Any, error: BaseException | None) -> None:
        self.result, self.error = result, error


def _serve(function: Callable[..., Any], arguments: tuple[Any, ...]) -> None:
    """A worker's life: run each call it is given, answer its parent, wait for the next."""
    while True:
        try:
            answer = _Answer(function(*arguments), None)
        except GreenletExit:
            raise  # the worker is being discarded: end it
        except BaseException as error:  # handed to the caller, which raises it
            answer = _Answer(None, error)
        function, arguments = getcurrent().parent.switch(answer)


_idle = threading.local()


async def call_sync_api(function: Callable[..., _T], *arguments: Any) -> _T:
    """Run the synchronous ``function`` where SQLAlchemy's asyncio adapters can wait on
    the event loop (a pool's checkout may open a connection), as ``greenlet_spawn``
    runs it, in a greenlet kept from an earlier call (in the caller's context
    variables); its error is raised here.

    Example:
        >>> run(call_sync_api(len, "abc"))
        3
        >>> from sqlalchemy.util import await_only
        >>> import asyncio
        >>> run(call_sync_api(lambda: await_only(asyncio.sleep(0, "waited"))))
        'waited'
        >>> run(call_sync_api(int, "x"))  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: invalid literal for int() with base 10: 'x'
    """
    driver = getcurrent()
    workers: list[_Worker] = _idle.__dict__.setdefault("workers", [])
    worker = workers.pop() if workers else _Worker(_serve, driver)
    worker.parent = driver
    worker.gr_context = driver.gr_context  # the caller's context variables, as a spawn's
    sent = worker.switch(function, arguments)
    while not isinstance(sent, _Answer):  # an awaitable, from await_
        try:
            value = await sent
        except BaseException:
            sent = worker.throw(*sys.exc_info())
        else:
            sent = worker.switch(value)
    worker.gr_context = None  # keeps no context alive while idle
    if len(workers) < _KEPT:
        workers.append(worker)
    if sent.error is not None:
        error, sent.error = sent.error, None
        raise error
    result: _T = sent.result
    return result
