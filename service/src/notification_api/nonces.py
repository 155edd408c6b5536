"""Where the nonces of signed requests are remembered: the database, or Redis.

A nonce is kept until the request's timestamp leaves the accepted window;
after that the timestamp check alone refuses the request, so the nonce can be
forgotten. Either store answers :meth:`NonceStore.remember` with ``True`` for
a nonce it had not seen (and keeps it) and ``False`` for a replay, atomically:
of two concurrent requests with one nonce, exactly one gets ``True``.

- :class:`DatabaseNonceStore` (default): a row in ``request_nonces`` with a
  unique constraint on ``(api_key_id, nonce)``; expired rows are deleted as
  they are met and, at most once a minute, all at once.
- :class:`RedisNonceStore` (``REDIS_URL`` set): ``SET key 1 NX EX ttl``;
  Redis forgets the nonce by itself.
"""

from __future__ import annotations

import time
from typing import Protocol

from redis.asyncio import Redis

from sqlrecord.exceptions import DuplicateKeyError

from .models import RequestNonce
from .settings import Settings

__all__ = [
    "PRUNE_INTERVAL_SECONDS",
    "DatabaseNonceStore",
    "NonceStore",
    "RedisNonceStore",
    "make_nonce_store",
]

#: How often (at most) a database store deletes every expired row.
PRUNE_INTERVAL_SECONDS = 60.0


class NonceStore(Protocol):
    """Remembers (key, nonce) pairs until they expire."""

    #: True when :meth:`remember` writes to the service's database (see ``signing``).
    uses_database: bool

    async def remember(self, api_key_id: int, nonce: str, expires_at: int) -> bool:
        """Keep ``nonce`` of key ``api_key_id`` until ``expires_at`` (epoch s); False if seen."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...


class DatabaseNonceStore:
    """Nonces as rows of ``request_nonces``; runs in the caller's ambient transaction.

    The caller (``signing``) runs :meth:`remember` in the request's session and
    commits it before the route runs.

    Example:
        >>> store = DatabaseNonceStore()
        >>> store.uses_database
        True
    """

    uses_database = True

    def __init__(self) -> None:
        self._last_prune = 0.0

    async def remember(self, api_key_id: int, nonce: str, expires_at: int) -> bool:
        """Insert the row; ``False`` when the unique constraint says it is there already."""
        now = int(time.time())
        if time.monotonic() - self._last_prune > PRUNE_INTERVAL_SECONDS:
            self._last_prune = time.monotonic()
            await RequestNonce.filter_by(expires_at__lt=now).delete()
        else:
            # The same nonce used again after its window: the old row must not refuse it.
            await RequestNonce.filter_by(
                api_key_id=api_key_id, nonce=nonce, expires_at__lt=now
            ).delete()
        try:
            await RequestNonce.create(api_key_id=api_key_id, nonce=nonce, expires_at=expires_at)
        except DuplicateKeyError:
            return False
        return True

    async def aclose(self) -> None:
        """Nothing to release: the rows live in the app's database."""


class RedisNonceStore:
    """Nonces as Redis keys ``<prefix>nonce:<api_key_id>:<nonce>`` that expire by themselves.

    Example:
        >>> store = RedisNonceStore("redis://127.0.0.1:6379/4", prefix="doctest:")
        >>> store.key(7, "abc")
        'doctest:nonce:7:abc'
    """

    uses_database = False

    def __init__(self, url: str, *, prefix: str) -> None:
        self.prefix = prefix
        self._redis: Redis = Redis.from_url(url)

    def key(self, api_key_id: int, nonce: str) -> str:
        """The Redis key of one nonce."""
        return f"{self.prefix}nonce:{api_key_id}:{nonce}"

    async def remember(self, api_key_id: int, nonce: str, expires_at: int) -> bool:
        """``SET NX`` with the time left as its expiry: atomic in Redis."""
        ttl = max(expires_at - int(time.time()), 1)
        created = await self._redis.set(self.key(api_key_id, nonce), b"1", nx=True, ex=ttl)
        return bool(created)

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._redis.aclose()


def make_nonce_store(settings: Settings) -> NonceStore:
    """Redis when ``REDIS_URL`` is set, the database otherwise.

    Example:
        >>> settings = Settings(api_env="test", jwt_secret="s" * 32)
        >>> type(make_nonce_store(settings)).__name__
        'DatabaseNonceStore'
    """
    if settings.redis_url:
        url = settings.redis_url.get_secret_value()
        return RedisNonceStore(url, prefix=settings.redis_key_prefix)
    return DatabaseNonceStore()
