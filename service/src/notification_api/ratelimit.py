"""Rate limits on log-in, registration and signed calls, through the ``limits`` library.

Log-in and registration count per client address (a password guesser, a
sign-up flood), signed calls per access key (one tenant's quota). Each limit
is a moving window: ``20/minute`` lets at most 20 requests through in any 60
seconds. Beyond it the answer is 429 ``TOO_MANY_REQUESTS`` with ``Retry-After``
(the seconds until the oldest counted request leaves the window); refused
requests are not counted. The counts live in the process by default, and in
Redis when ``REDIS_URL`` is set, so that every process of the service shares
them. A Redis that cannot be reached answers 503 ``TRY_AGAIN``: the limits are
never skipped silently.

Signed calls are counted after the signature was checked: only the key's owner
can spend its quota, a stranger who knows the access key cannot.
"""

from __future__ import annotations

import logging
import math
import time
from typing import Literal

import redis.asyncio
from fastapi import Depends, Request, params
from limits import RateLimitItem, parse_many
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.errors import StorageError

from .client_address import client_address
from .errors import RateLimitUnavailableError, TooManyRequestsError
from .models import ApiKey
from .schemas import ErrorOut
from .settings import Settings
from .signing import SignedKey

__all__ = [
    "RATE_LIMITED",
    "SIGNED_CALL_LIMIT",
    "RateLimits",
    "limit_by_address",
    "limit_signed_call",
]

logger = logging.getLogger("notification_api")

Scope = Literal["login", "register", "signed"]

# Seconds to reach Redis before the request is answered 503 instead of waiting.
_REDIS_TIMEOUT = 2.0


#: The OpenAPI entry of a 429 (``responses={429: RATE_LIMITED}``).
RATE_LIMITED: dict[str, object] = {
    "model": ErrorOut,
    "description": "A rate limit is reached: wait Retry-After seconds.",
    "headers": {
        "Retry-After": {
            "description": "Seconds until the request would be accepted.",
            "schema": {"type": "integer", "minimum": 1},
        }
    },
}


class RateLimits:
    """The app's limits and their storage (``app.state.rate_limits``).

    Example:
        >>> import asyncio
        >>> settings = Settings(api_env="test", jwt_secret="s" * 32, rate_limit_login="2/minute")
        >>> async def three_logins() -> str:
        ...     rate_limits = RateLimits(settings)
        ...     try:
        ...         for _ in range(3):
        ...             await rate_limits.hit("login", "192.0.2.1")
        ...     except TooManyRequestsError as error:
        ...         return f"{error.status} after 2, Retry-After {error.headers['Retry-After']}"
        ...     finally:
        ...         await rate_limits.aclose()
        ...     return "no limit"
        >>> asyncio.run(three_logins())
        '429 after 2, Retry-After 60'
    """

    def __init__(self, settings: Settings) -> None:
        self.enabled = settings.rate_limit_enabled
        self.items: dict[Scope, list[RateLimitItem]] = {
            "login": parse_many(settings.rate_limit_login),
            "register": parse_many(settings.rate_limit_register),
            "signed": parse_many(settings.rate_limit_signed),
        }
        self._pool: redis.asyncio.ConnectionPool | None = None
        self.storage: Storage
        if settings.redis_url is None:
            self.storage = MemoryStorage()
        else:
            url = settings.redis_url.get_secret_value()
            # Our own pool, so that shutdown can close its connections.
            self._pool = redis.asyncio.ConnectionPool.from_url(
                url, socket_connect_timeout=_REDIS_TIMEOUT, socket_timeout=_REDIS_TIMEOUT
            )
            self.storage = RedisStorage(
                f"async+{url}",
                implementation="redispy",
                # Documented by limits; its annotation of **options is narrower.
                connection_pool=self._pool,  # type: ignore[arg-type]
                key_prefix=settings.rate_limit_key_prefix,
                wrap_exceptions=True,
            )
        self._limiter = MovingWindowRateLimiter(self.storage)

    async def hit(self, scope: Scope, identity: str) -> None:
        """Count one request of ``identity`` (an address, an access key) in ``scope``.

        Raises :class:`TooManyRequestsError` beyond any of the scope's limits,
        :class:`RateLimitUnavailableError` when the storage cannot be reached.
        """
        if not self.enabled:
            return
        waits: list[float] = []
        try:
            for item in self.items[scope]:
                if not await self._limiter.hit(item, scope, identity):
                    stats = await self._limiter.get_window_stats(item, scope, identity)
                    waits.append(stats.reset_time - time.time())
        except StorageError as error:
            logger.error("rate limit storage unavailable (%s): %r", scope, error.storage_error)
            raise RateLimitUnavailableError() from error
        if waits:
            raise TooManyRequestsError(scope, max(1, math.ceil(max(waits))))

    async def aclose(self) -> None:
        """Release the storage: Redis connections, or the memory storage's expiry task."""
        if self._pool is not None:
            await self._pool.aclose()
        elif isinstance(self.storage, MemoryStorage) and self.storage.timer is not None:
            self.storage.timer.cancel()


def limit_by_address(scope: Scope) -> params.Depends:
    """A route dependency that counts the request against ``scope``'s limit for its address.

    Example:
        >>> from fastapi import APIRouter
        >>> router = APIRouter()
        >>> @router.post("/login", dependencies=[limit_by_address("login")])
        ... async def login() -> None: ...
    """

    async def limit(request: Request) -> None:
        rate_limits: RateLimits = request.app.state.rate_limits
        # Behind TRUSTED_PROXIES, the forwarded client: else all would share the proxy's count.
        address = client_address(request, request.app.state.settings.trusted_proxies)
        await rate_limits.hit(scope, address or "unknown")

    dependency: params.Depends = Depends(limit)
    return dependency


async def limit_signed_call(request: Request, api_key: SignedKey) -> ApiKey:
    """Dependency: count a signed call against its access key, once its signature is valid.

    Example:
        >>> from fastapi import Depends
        >>> dependency = Depends(limit_signed_call)
    """
    rate_limits: RateLimits = request.app.state.rate_limits
    await rate_limits.hit("signed", api_key.access_key)
    return api_key


#: For the signed router's ``dependencies=[...]`` (after the unit of work).
SIGNED_CALL_LIMIT = Depends(limit_signed_call)
