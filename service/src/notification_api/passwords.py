"""Password hashing with argon2 (argon2-cffi), off the event loop.

Hashing is deliberately slow; it runs in a worker thread so that one log-in
does not stall every other request.
"""

from __future__ import annotations

import asyncio

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

__all__ = ["configure_hashing", "hash_password", "verify_password"]

_hasher = PasswordHasher()
# Verified against when the e-mail is unknown, so that "no such user" takes
# as long as "wrong password" and the two cannot be told apart by timing.
_DUMMY_HASH = _hasher.hash("no such user")


def configure_hashing(time_cost: int, memory_kib: int) -> None:
    """Hash new passwords with this argon2id cost (the app factory applies the settings).

    Hashes made before keep their own parameters (they are part of the hash) and
    still verify.

    Example:
        >>> configure_hashing(time_cost=3, memory_kib=65_536)
    """
    global _hasher, _DUMMY_HASH
    if (_hasher.time_cost, _hasher.memory_cost) == (time_cost, memory_kib):
        return
    _hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_kib)
    _DUMMY_HASH = _hasher.hash("no such user")


async def hash_password(password: str) -> str:
    """The argon2id hash of ``password`` (salted; never the same twice).

    Example:
        >>> import asyncio
        >>> asyncio.run(hash_password("s3cret")).startswith("$argon2id$")
        True
    """
    return await asyncio.to_thread(_hasher.hash, password)


async def verify_password(password: str, hashed: str | None) -> bool:
    """Whether ``password`` matches ``hashed``; ``None`` (no user) is checked too, and fails.

    Example:
        >>> import asyncio
        >>> hashed = asyncio.run(hash_password("s3cret"))
        >>> asyncio.run(verify_password("s3cret", hashed)), asyncio.run(verify_password("x", None))
        (True, False)
    """
    try:
        matched = await asyncio.to_thread(_hasher.verify, hashed or _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return False
    return matched and hashed is not None
