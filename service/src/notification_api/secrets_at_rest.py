"""API secret keys encrypted at rest: Fernet tokens under ``SECRET_KEYS_ENCRYPTION_KEYS``.

The service must know each secret in clear to check a request's HMAC and to
sign webhooks, so a hash will not do: the column holds
``fernet:<Fernet token>`` instead, and a copy of the database (a backup, a
read-only SQL injection elsewhere, a replica) no longer hands out working
keys. The prefix tells an encrypted value from a plain one left by an older
version (plain secrets are url-safe base64, which has no ``:``), so the
start-up step can encrypt those in place.

Rotation: put a new key first in ``SECRET_KEYS_ENCRYPTION_KEYS`` (the old ones
after it still decrypt), restart, run ``python -m notification_api
rotate-secret-keys`` (every row re-encrypted with the first key), then drop
the old keys from the setting.
"""

from __future__ import annotations

import functools
import logging
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlalchemy import CursorResult, update

from sqlrecord import Database

from .models import ApiKey
from .settings import Settings

__all__ = [
    "ENCRYPTED_PREFIX",
    "SecretBox",
    "SecretUnreadableError",
    "encrypt_stored_secrets",
    "secret_box",
]

logger = logging.getLogger("notification_api")

#: What an encrypted ``api_keys.secret_key`` starts with.
ENCRYPTED_PREFIX = "fernet:"


class SecretUnreadableError(ValueError):
    """A stored secret that none of the configured keys decrypts (a lost or wrong key)."""


class SecretBox:
    """Encrypts secrets with the first key, decrypts with any (``MultiFernet``).

    Example:
        >>> old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
        >>> stored = SecretBox([old]).seal("s3cret")
        >>> stored.startswith("fernet:") and "s3cret" not in stored
        True
        >>> rotated = SecretBox([new, old])
        >>> rotated.reveal(stored), rotated.reveal(rotated.reseal(stored))
        ('s3cret', 's3cret')
        >>> SecretBox([new]).reveal(rotated.reseal(stored))
        's3cret'
        >>> SecretBox([new]).reveal(stored)
        Traceback (most recent call last):
        ...
        notification_api.secrets_at_rest.SecretUnreadableError: ...
    """

    def __init__(self, keys: list[str]) -> None:
        if not keys:
            raise ValueError("SecretBox needs at least one key.")
        self._fernet = MultiFernet([Fernet(key) for key in keys])

    def seal(self, secret: str) -> str:
        """``secret`` encrypted with the newest key, as it is stored."""
        return ENCRYPTED_PREFIX + self._fernet.encrypt(secret.encode()).decode()

    def reveal(self, stored: str) -> str:
        """The secret in clear; a plain (not yet encrypted) value is returned as it is."""
        if not stored.startswith(ENCRYPTED_PREFIX):
            return stored
        try:
            return self._fernet.decrypt(stored[len(ENCRYPTED_PREFIX) :].encode()).decode()
        except InvalidToken:
            raise SecretUnreadableError(
                "A stored API secret cannot be decrypted with SECRET_KEYS_ENCRYPTION_KEYS "
                "(was a key removed or changed?)."
            ) from None

    def reseal(self, stored: str) -> str:
        """``stored`` (plain or encrypted under any key) encrypted with the newest key."""
        if not stored.startswith(ENCRYPTED_PREFIX):
            return self.seal(stored)
        try:
            token = self._fernet.rotate(stored[len(ENCRYPTED_PREFIX) :].encode())
        except InvalidToken:
            raise SecretUnreadableError("A stored API secret cannot be decrypted.") from None
        return ENCRYPTED_PREFIX + token.decode()


@functools.lru_cache(maxsize=8)
def _box(keys: tuple[str, ...]) -> SecretBox:
    return SecretBox(list(keys))


def secret_box(settings: Settings) -> SecretBox:
    """The box of ``settings``' keys (one per distinct key list, built once).

    Example:
        >>> settings = Settings(api_env="test", jwt_secret="s" * 32)
        >>> secret_box(settings) is secret_box(settings)
        True
    """
    return _box(tuple(settings.encryption_keys))


async def encrypt_stored_secrets(database: Database, box: SecretBox, *, rotate: bool) -> int:
    """Encrypt the plain secrets left by an older version; with ``rotate``, re-encrypt all.

    Returns how many rows were written. Runs at start-up (``rotate=False``:
    one SELECT when there is nothing to do) and from ``python -m
    notification_api rotate-secret-keys`` (``rotate=True``). Each row is
    written in a transaction of its own, only if it still holds the value
    read, so a key changed meanwhile is left to the next run. A secret that
    no configured key decrypts is counted in the log and left as it is.

    Example:
        >>> import inspect
        >>> inspect.iscoroutinefunction(encrypt_stored_secrets)
        True
    """
    query = ApiKey.filter_by()
    if not rotate:
        query = query.exclude(secret_key__startswith=ENCRYPTED_PREFIX)
    async with database.transaction():
        rows: list[tuple[int, str]] = await query.order_by("id").values_list("id", "secret_key")
    written = unreadable = 0
    for key_id, stored in rows:
        try:
            sealed = box.reseal(stored)
        except SecretUnreadableError:
            unreadable += 1
            continue
        # Core, not Query.update: secret_key is protected from mass assignment on purpose,
        # and this is the one place that rewrites it.
        statement = (
            update(ApiKey)
            .where(ApiKey.id == key_id, ApiKey.secret_key == stored)
            .values(secret_key=sealed)
        )
        async with database.transaction() as session:
            result: CursorResult[Any] = await session.execute(statement)  # type: ignore[assignment]
            written += result.rowcount
    if unreadable:
        logger.error(
            "%d API secret(s) cannot be decrypted with SECRET_KEYS_ENCRYPTION_KEYS: requests "
            "signed with them are refused until the key that encrypted them is configured.",
            unreadable,
        )
    return written
