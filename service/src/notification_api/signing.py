"""Signed service requests: scheme ``NAPI-HMAC-SHA256-V2``, and the legacy one behind a setting.

**V2** (the default, and the only scheme accepted unless ``LEGACY_SIGNATURES=true``).
The query string holds ``key`` (the access key), ``timestamp`` (epoch seconds,
within ``±TIMESTAMP_WINDOW_SECONDS``) and ``nonce`` (16 to 64 characters of
``A-Z a-z 0-9 - _``, new for every request), each exactly once, and any of the
route's own parameters. The header ``X-Signature-Scheme: NAPI-HMAC-SHA256-V2``
names the scheme, and the header ``secret`` is
``base64(HMAC-SHA256(secret_key, canonical request))`` where the canonical
request is five lines joined by ``\\n`` (no trailing newline)::

    NAPI-HMAC-SHA256-V2
    <method, upper case>
    <path, percent-decoded, without the query>
    <canonical query: see canonical_query()>
    <hex SHA-256 of the raw body; of b"" when there is none>

So the signature binds the method, the path, every query parameter (the
timestamp and nonce among them) and the exact body: it cannot be moved to
another route, method, filter or body. A nonce is accepted once per key
while its timestamp is in the window (:mod:`notification_api.nonces`), so
the same request cannot be sent twice either.

**Legacy** (``LEGACY_SIGNATURES=true`` only; a request without the scheme
header). The original's: ``secret`` is ``base64(HMAC-SHA256(secret_key, raw
query string))``, nothing else is signed and nothing stops a replay within
the window. Refused by default.

In both, a key with whitelist entries accepts only those client addresses
(:mod:`notification_api.client_address`, for ``TRUSTED_PROXIES``).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import ipaddress
import logging
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import parse_qsl, quote

from fastapi import Depends, Header, Request, Security
from sqlalchemy.ext.asyncio import AsyncSession

from sqlrecord.fastapi import database_of

from .client_address import client_address
from .deps import READ_ONLY_METHODS, AppSettings, UnitOfWork
from .errors import (
    AccessKeyNotFoundError,
    IPNotAllowedError,
    NonceReusedError,
    QueryStringError,
    SignatureError,
    SignatureSchemeError,
    TimestampError,
)
from .models import ApiKey, ApiWhitelist
from .nonces import NonceStore
from .openapi import SIGNATURE, SIGNED_KEY, SIGNED_NONCE, SIGNED_TIMESTAMP
from .secrets_at_rest import SecretUnreadableError, secret_box
from .settings import Settings

__all__ = [
    "NONCE_PATTERN",
    "SCHEME_HEADER",
    "SCHEME_V2",
    "SignedKey",
    "canonical_query",
    "canonical_request",
    "sign",
    "sign_v2",
    "signed_key",
]

logger = logging.getLogger("notification_api")

#: The header that names the signature scheme, and the name of the current one.
SCHEME_HEADER = "X-Signature-Scheme"
SCHEME_V2 = "NAPI-HMAC-SHA256-V2"
#: A nonce: long enough to be unguessable when random, short and plain enough to store.
NONCE_PATTERN = re.compile(r"[A-Za-z0-9_-]{16,64}")
# RFC 3986's unreserved characters: never percent-encoded in the canonical query.
_UNRESERVED = "-_.~"


def sign(secret_key: str, query_string: str) -> str:
    """The legacy ``secret`` header for ``query_string`` (``LEGACY_SIGNATURES=true`` only).

    Example:
        >>> sign("secret", "key=abc&timestamp=1700000000")
        '/AVFpowrmOHv/OzhYFrJMmuGKBsLQ84WSTIypxKsnq0='
    """
    digest = hmac.new(secret_key.encode(), query_string.encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def canonical_query(query_string: str) -> str:
    """The query as signed: decoded, sorted by name, re-encoded one way.

    Pairs are decoded as the server decodes them (``+`` is a space, ``%xx`` a
    UTF-8 byte), sorted by name only (a stable sort: repeated names keep
    their order, which the server's meaning depends on), and each name and
    value percent-encoded as UTF-8 except RFC 3986's unreserved characters
    ``A-Z a-z 0-9 - _ . ~``, joined as ``name=value`` with ``&``. Two query
    strings with one canonical form mean the same to the server.

    Example:
        >>> canonical_query("timestamp=1700000000&key=abc&status=sent&nonce=n-1")
        'key=abc&nonce=n-1&status=sent&timestamp=1700000000'
        >>> canonical_query("b=two+words&a=%7e&b=caf%C3%A9&c=")
        'a=~&b=two%20words&b=caf%C3%A9&c='
    """
    pairs = parse_qsl(query_string, keep_blank_values=True)
    pairs.sort(key=lambda pair: pair[0])
    return "&".join(
        f"{quote(name, safe=_UNRESERVED)}={quote(value, safe=_UNRESERVED)}" for name, value in pairs
    )


def canonical_request(method: str, path: str, query_string: str, body: bytes) -> str:
    """The text a V2 signature is the HMAC of (five lines, see the module's docstring).

    Example:
        >>> print(canonical_request("post", "/api/services/notifications",
        ...                         "timestamp=1700000000&key=abc&nonce=0123456789abcdef", b"{}"))
        NAPI-HMAC-SHA256-V2
        POST
        /api/services/notifications
        key=abc&nonce=0123456789abcdef&timestamp=1700000000
        44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a
    """
    return "\n".join(
        [
            SCHEME_V2,
            method.upper(),
            path,
            canonical_query(query_string),
            hashlib.sha256(body).hexdigest(),
        ]
    )


def sign_v2(secret_key: str, method: str, path: str, query_string: str, body: bytes) -> str:
    """The V2 ``secret`` header of a request (what a client computes).

    Example:
        >>> sign_v2("secret", "GET", "/api/services/notifications",
        ...         "key=abc&timestamp=1700000000&nonce=0123456789abcdef", b"")
        'RNQ7j6RZhYNMWU2C6ZmvOkXc/p/+MHXcnr3ShMLzLTo='
    """
    text = canonical_request(method, path, query_string, body)
    digest = hmac.new(secret_key.encode(), text.encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


@dataclass(frozen=True)
class _Credentials:
    access_key: str
    timestamp: int
    nonce: str | None


def _credentials(query_string: str, *, v2: bool) -> _Credentials:
    pairs = parse_qsl(query_string, keep_blank_values=True)

    def only(name: str) -> str | None:
        values = [value for key, value in pairs if key == name]
        if len(values) > 1:
            raise QueryStringError(f"{name} must appear once in the query string.")
        return values[0] if values else None

    access_key, stamp, nonce = only("key"), only("timestamp"), only("nonce")
    if not access_key or stamp is None:
        raise QueryStringError()
    # Plain ASCII digits of a sane length: int() alone would take "1_0", "²" or a
    # number too large to compare with the clock.
    if not (stamp.isascii() and stamp.isdigit() and len(stamp) <= 12):
        raise QueryStringError()
    if v2 and (nonce is None or not NONCE_PATTERN.fullmatch(nonce)):
        raise QueryStringError(
            "nonce must appear once: 16 to 64 characters of A-Z, a-z, 0-9, '-' and '_', "
            "new for every request."
        )
    return _Credentials(access_key, int(stamp), nonce if v2 else None)


def _scheme(request: Request, settings: Settings) -> str | None:
    """``SCHEME_V2``, or ``None`` for an accepted legacy request; refuses anything else."""
    named = request.headers.get(SCHEME_HEADER)
    if named is not None:
        if named.strip().upper() != SCHEME_V2:
            raise SignatureSchemeError(named)
        return SCHEME_V2
    if not settings.legacy_signatures:
        raise SignatureSchemeError(None)
    return None


async def _verify(
    request: Request,
    settings: Settings,
    credentials: _Credentials,
    signature_for: Callable[[str], str],
) -> ApiKey:
    """The active key of the request, its signature and whitelist checked (ambient session)."""
    api_key = await ApiKey.get(access_key=credentials.access_key)
    if api_key is None or api_key.status != "active":
        raise AccessKeyNotFoundError()
    try:
        secret_key = secret_box(settings).reveal(api_key.secret_key)
    except SecretUnreadableError:
        logger.error("API key %s: its secret cannot be decrypted", api_key.id)
        raise SignatureError() from None
    given = (request.headers.get("secret") or "").encode()
    # compare_digest: the time taken does not reveal how much of it matched.
    if not hmac.compare_digest(given, signature_for(secret_key).encode()):
        raise SignatureError()
    allowed = await ApiWhitelist.filter_by(api_key_id=api_key.id).values_list("ip_addr", flat=True)
    client = client_address(request, settings.trusted_proxies)
    if allowed and not _ip_in(client, allowed):
        raise IPNotAllowedError(client)
    return api_key


async def signed_key(
    request: Request,
    session: UnitOfWork,  # opened first: the model calls below run in its session
    settings: AppSettings,
    # The four security schemes of a signed request (see openapi.py): declared for
    # the schema; the check reads the raw request, exactly as it was signed.
    key: Annotated[str | None, Security(SIGNED_KEY)],
    timestamp: Annotated[str | None, Security(SIGNED_TIMESTAMP)],
    nonce: Annotated[str | None, Security(SIGNED_NONCE)],
    secret: Annotated[str | None, Security(SIGNATURE)],
    signature_scheme: Annotated[
        str | None,
        Header(alias=SCHEME_HEADER, description=f"{SCHEME_V2} (required unless legacy)."),
    ] = None,
) -> ApiKey:
    """Dependency: check the signed request and return its active :class:`ApiKey`.

    401 for a missing, malformed, stale, unknown, wrong or replayed credential;
    403 for a client address the key's whitelist does not hold. Checked in this
    order: scheme, query, timestamp, key, signature, whitelist, nonce (so a
    refused request never spends a nonce).

    Example:
        >>> from fastapi import Depends
        >>> dependency = Depends(signed_key)
    """
    scheme = _scheme(request, settings)
    query_string = request.scope["query_string"].decode("latin-1")
    credentials = _credentials(query_string, v2=scheme is not None)
    if abs(time.time() - credentials.timestamp) > settings.timestamp_window_seconds:
        raise TimestampError(settings.timestamp_window_seconds)
    signature_for: Callable[[str], str]
    if scheme is None:
        signature_for = functools.partial(_legacy_signature, query_string)
    else:
        signature_for = functools.partial(
            _v2_signature, request.method, request.scope["path"], query_string, await request.body()
        )
    store: NonceStore = request.app.state.nonce_store
    if scheme is None:
        api_key = await _verify(request, settings, credentials, signature_for)
    elif store.uses_database:
        api_key = await _spend_in_own_transaction(
            request, session, store, settings, credentials, signature_for
        )
    else:
        api_key = await _verify(request, settings, credentials, signature_for)
        assert credentials.nonce is not None
        expires_at = credentials.timestamp + settings.timestamp_window_seconds + 1
        if not await store.remember(api_key.id, credentials.nonce, expires_at):
            raise NonceReusedError()
    request.state.user_id = api_key.user_id
    return api_key


async def _spend_in_own_transaction(
    request: Request,
    session: AsyncSession,
    store: NonceStore,
    settings: Settings,
    credentials: _Credentials,
    signature_for: Callable[[str], str],
) -> ApiKey:
    """Verify, record the nonce and COMMIT, in the request's own session; the key.

    The nonce must be committed before the route runs (a GET's unit of work
    never commits; a route that fails must not give the nonce back). It is done
    in the request's session, on the one connection the request holds: a
    transaction on a second connection would make every request hold one
    connection while it waits for another, and a full pool would stall them all
    (on SQLite the request's connection is taken when it starts). On SQLite the
    write lock is taken first (BEGIN IMMEDIATE), as for any unit that writes.
    """
    assert credentials.nonce is not None
    database = database_of(request)
    await database.begin_write(session)
    api_key = await _verify(request, settings, credentials, signature_for)
    expires_at = credentials.timestamp + settings.timestamp_window_seconds + 1
    if not await store.remember(api_key.id, credentials.nonce, expires_at):
        raise NonceReusedError()
    await session.commit()
    if request.method not in READ_ONLY_METHODS:
        await database.begin_write(session)  # the route's own transaction writes too
    return api_key


def _legacy_signature(query_string: str, secret_key: str) -> str:
    return sign(secret_key, query_string)


def _v2_signature(method: str, path: str, query_string: str, body: bytes, secret_key: str) -> str:
    return sign_v2(secret_key, method, path, query_string, body)


def _ip_in(client: str, allowed: Sequence[str]) -> bool:
    try:
        address = ipaddress.ip_address(client)
    except ValueError:
        return False
    return any(address == ipaddress.ip_address(entry) for entry in allowed)


SignedKey = Annotated[ApiKey, Depends(signed_key)]
