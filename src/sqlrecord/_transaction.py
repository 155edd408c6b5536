"""``db.transaction()``: a unit of work as ``async with``, or as a retrying decorator."""

from __future__ import annotations

import asyncio
import functools
import random
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from types import TracebackType
from typing import TYPE_CHECKING, ParamSpec, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from .exceptions import ConfigurationError, TransactionConflictError

if TYPE_CHECKING:
    from .database import Database

__all__ = ["Transaction", "run_with_retries"]

_P = ParamSpec("_P")
_T = TypeVar("_T")


class Transaction:
    """What ``db.transaction(...)`` returns: use it with ``async with`` or as a decorator.

    As a decorator the whole function is the unit of work, so it can run again:
    with ``retries=N`` a :class:`~sqlrecord.exceptions.TransactionConflictError`
    (deadlock, serialization failure) re-runs it up to N more times, after a
    short random pause. A ``with`` block cannot run twice, so ``retries`` there
    is refused.

    Example:
        >>> @db.transaction(retries=3)
        ... async def sign_up(email: str) -> int:
        ...     return (await User.create(email=email)).id
        >>> run(sign_up("kim@example.com")) > 0
        True
    """

    __slots__ = ("_context", "_database", "_retries", "_savepoints", "_session")

    def __init__(
        self,
        database: Database,
        *,
        session: AsyncSession | None,
        retries: int,
        savepoints: bool = True,
    ) -> None:
        if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
            raise ConfigurationError(f"retries takes a whole number >= 0, got {retries!r}.")
        self._database = database
        self._session = session
        self._retries = retries
        self._savepoints = savepoints
        self._context: AbstractAsyncContextManager[AsyncSession] | None = None

    async def __aenter__(self) -> AsyncSession:
        if self._retries:
            raise ConfigurationError(
                "db.transaction(retries=...) cannot retry a `with` block (it cannot run "
                "twice). Decorate an async function with it, or call "
                "db.run_in_transaction(fn, retries=...)."
            )
        self._context = self._database.unit_of_work(
            session=self._session, savepoints=self._savepoints
        )
        return await self._context.__aenter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> bool | None:
        assert self._context is not None
        return await self._context.__aexit__(exc_type, exc, traceback)

    def __call__(self, function: Callable[_P, Awaitable[_T]]) -> Callable[_P, Awaitable[_T]]:
        @functools.wraps(function)
        async def in_transaction(*args: _P.args, **kwargs: _P.kwargs) -> _T:
            async def once() -> _T:
                async with self._database.unit_of_work(
                    session=self._session, savepoints=self._savepoints
                ):
                    return await function(*args, **kwargs)

            nested = self._session is not None or self._database.current_session() is not None
            # Inside another unit of work the outer owner's transaction is the one
            # that was aborted: only its owner can run it again.
            return await run_with_retries(once, retries=0 if nested else self._retries)

        return in_transaction


async def run_with_retries(attempt: Callable[[], Awaitable[_T]], *, retries: int) -> _T:
    """Await ``attempt()``; on a transaction conflict, pause briefly and try again.

    Example:
        >>> async def answer() -> int:
        ...     return 42
        >>> run(run_with_retries(answer, retries=2))
        42
    """
    for number in range(retries + 1):
        try:
            return await attempt()
        except TransactionConflictError:
            if number == retries:
                raise
            # Spread the retries out so the same transactions do not collide again.
            await asyncio.sleep(random.uniform(0.005, 0.02) * 2**number)
    raise AssertionError("unreachable")  # pragma: no cover
