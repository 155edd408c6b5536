"""Password hashing with argon2 (argon2-cffi), off the event loop.

Hashing is deliberately slow; it runs in a worker thread so that one log-in
does not stall every other request.
"""

from __future__ import annotations

import asyncio

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

__all__ = ["hash_password", "verify_password"]

_hasher = PasswordHasher()
# Verified against when the e-mail is unknown, so that "no such user" takes
# as long as "wrong password" and the two cannot be told apart by timing.
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
