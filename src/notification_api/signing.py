"""Signed service requests: ``?key=<access key>&timestamp=<epoch s>`` and a ``secret`` header.

The header is ``base64(HMAC-SHA256(secret_key, raw query string))``: the
whole query string as sent, so any extra parameter (a list filter) is signed
too. The timestamp must be within ``±TIMESTAMP_WINDOW_SECONDS`` of the server's
clock. A key with whitelist entries accepts only those client addresses (the
original stored the whitelist but never checked it).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import time
from collections.abc import Sequence
from typing import Annotated
from urllib.parse import parse_qsl

from fastapi import Depends, Request, Security

from .deps import AppSettings, UnitOfWork
from .errors import (
    AccessKeyNotFoundError,
    IPNotAllowedError,
    QueryStringError,
    SignatureError,
    TimestampError,
)
from .models import ApiKey, ApiWhitelist
from .openapi import SIGNATURE, SIGNED_KEY, SIGNED_TIMESTAMP

__all__ = ["SignedKey", "sign", "signed_key"]


def sign(secret_key: str, query_string: str) -> str:
    """The ``secret`` header value for ``query_string`` (what a client computes).

    Example:
        >>> sign("secret", "key=abc&timestamp=1700000000")
        '/AVFpowrmOHv/OzhYFrJMmuGKBsLQ84WSTIypxKsnq0='
    """
    digest = hmac.new(secret_key.encode(), query_string.encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def _key_and_timestamp(query_string: str) -> tuple[str, int]:
    pairs = parse_qsl(query_string, keep_blank_values=True)
    keys = [value for name, value in pairs if name == "key"]
    stamps = [value for name, value in pairs if name == "timestamp"]
    if len(keys) != 1 or len(stamps) != 1 or not keys[0]:
        raise QueryStringError()
    stamp = stamps[0]
    # Plain ASCII digits of a sane length: int() alone would take "1_0", "²" or a
    # number too large to compare with the clock.
    if not (stamp.isascii() and stamp.isdigit() and len(stamp) <= 12):
        raise QueryStringError()
    return keys[0], int(stamp)


async def signed_key(
    request: Request,
    session: UnitOfWork,  # opened first: the model calls below run in its session
    settings: AppSettings,
    # The three security schemes of a signed request (see openapi.py): declared for
    # the schema; the check reads the raw query string, exactly as it was signed.
    key: Annotated[str | None, Security(SIGNED_KEY)],
    timestamp: Annotated[str | None, Security(SIGNED_TIMESTAMP)],
    secret: Annotated[str | None, Security(SIGNATURE)],
) -> ApiKey:
    """Dependency: check the signed request and return its active :class:`ApiKey`.

    401 for a missing, malformed, stale, unknown or wrong credential; 403 for a
    client address the key's whitelist does not hold.

    Example:
        >>> from fastapi import Depends
        >>> dependency = Depends(signed_key)
    """
    query_string = request.scope["query_string"].decode("latin-1")
    access_key, sent_at = _key_and_timestamp(query_string)
    if abs(time.time() - sent_at) > settings.timestamp_window_seconds:
        raise TimestampError(settings.timestamp_window_seconds)
    api_key = await ApiKey.get(access_key=access_key)
    if api_key is None or api_key.status != "active":
        raise AccessKeyNotFoundError()
    given = secret or ""
    # compare_digest: the time taken does not reveal how much of it matched.
    if not hmac.compare_digest(given.encode(), sign(api_key.secret_key, query_string).encode()):
        raise SignatureError()
    allowed = await ApiWhitelist.filter_by(api_key_id=api_key.id).values_list("ip_addr", flat=True)
    client = request.client.host if request.client else ""
    if allowed and not _ip_in(client, allowed):
        raise IPNotAllowedError(client)
    request.state.user_id = api_key.user_id
    return api_key


def _ip_in(client: str, allowed: Sequence[str]) -> bool:
    try:
        address = ipaddress.ip_address(client)
    except ValueError:
        return False
    return any(address == ipaddress.ip_address(entry) for entry in allowed)


SignedKey = Annotated[ApiKey, Depends(signed_key)]
