"""Schemathesis hooks for ``test_schema_fuzz``: real credentials, chosen by the schema.

Loaded by the ``st run`` subprocess through ``SCHEMATHESIS_HOOKS``; the server
is at ``FUZZ_BASE_URL``. Every operation whose schema declares a security
requirement gets the credentials that requirement names, so generated data
reaches the routes' own checks instead of stopping at authentication:

- ``http``/``bearer``: ``Authorization: Bearer <token>`` of a user registered
  for the run;
- the signed-request ``apiKey`` schemes: ``key``, ``timestamp`` and a new
  ``nonce`` in the query, the ``X-Signature-Scheme`` header and the
  ``secret`` header, a V2 signature computed at send time over the method,
  path, query string and body exactly as the transport sends them
  (:class:`_Signer`).

Nothing here lists routes: a new operation with a declared scheme is covered
as it is. A 401 or 403 with these credentials (the fuzzer deleted the account
or the key, stopped the key, or whitelisted another address) makes
schemathesis ask for new ones and replay the request.
"""

from __future__ import annotations

import os
import time
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

import httpx
import requests
import schemathesis

from notification_api.openapi import BEARER, SIGNED_REQUEST
from notification_api.signing import SCHEME_HEADER, SCHEME_V2, canonical_query

from .api import new_nonce, v2_signature

BASE_URL = os.environ.get("FUZZ_BASE_URL", "http://127.0.0.1:8000")
BEARER_SCHEME = BEARER.scheme_name
SIGNED_SCHEMES = frozenset(scheme.scheme_name for scheme in SIGNED_REQUEST)
# The ``secret`` header until the request is prepared; then the signature replaces it.
_SIGN_WITH = "to-be-signed-with:"


@dataclass(frozen=True)
class Credentials:
    """One user's token and one active key of theirs."""

    authorization: str
    access_key: str
    secret_key: str


def new_credentials() -> Credentials:
    """Register a user and create a key, as a client of the API does."""
    with httpx.Client(base_url=BASE_URL, timeout=30) as http:
        email = f"fuzz-{uuid.uuid4().hex[:16]}@example.com"
        token = http.post("/api/auth/register/email", json={"email": email, "pw": "fuzz-pw"})
        token.raise_for_status()
        authorization = token.json()["Authorization"]
        key = http.post("/api/users/apikeys", json={}, headers={"Authorization": authorization})
        key.raise_for_status()
        return Credentials(authorization, key.json()["access_key"], key.json()["secret_key"])


def _requirement(operation: Any) -> set[str]:
    """The scheme names of the operation's first security requirement (empty: none)."""
    raw = operation.definition.raw
    requirements = raw.get("security", operation.schema.raw_schema.get("security", []))
    return set(requirements[0]) if requirements else set()


class _Signer(requests.auth.AuthBase):
    """Sign the request (V2) exactly as the prepared request will send it."""

    def __init__(self, secret_key: str) -> None:
        self.secret_key = secret_key

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        url = urlsplit(request.url)
        body = request.body or b""
        request.headers["secret"] = v2_signature(
            self.secret_key,
            request.method or "GET",
            unquote(url.path),
            canonical_query(url.query),
            body.encode() if isinstance(body, str) else body,
        )
        return request


@schemathesis.auth(refresh_interval=24 * 3600, retry_on=[401, 403]).apply_to(
    lambda ctx: bool(_requirement(ctx.operation))
)
class ServiceAuth:
    """Credentials for every operation that declares a security requirement."""

    def get(self, case: schemathesis.Case, ctx: Any) -> Credentials:
        return new_credentials()

    def set(self, case: schemathesis.Case, data: Credentials, ctx: Any) -> None:
        names = _requirement(ctx.operation)
        headers = dict(case.headers or {})
        if BEARER_SCHEME in names:
            headers["Authorization"] = data.authorization
        if names >= SIGNED_SCHEMES:
            query = dict(case.query or {})
            query.update(key=data.access_key, timestamp=str(int(time.time())), nonce=new_nonce())
            case.query = query
            headers[SCHEME_HEADER] = SCHEME_V2
            headers["secret"] = f"{_SIGN_WITH}{data.secret_key}"
        case.headers = headers


@schemathesis.hook
def before_call(context: Any, case: schemathesis.Case, kwargs: dict[str, Any]) -> None:
    secret = (case.headers or {}).get("secret")
    if isinstance(secret, str) and secret.startswith(_SIGN_WITH):
        kwargs["auth"] = _Signer(secret.removeprefix(_SIGN_WITH))
