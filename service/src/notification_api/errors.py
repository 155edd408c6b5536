"""The service's errors, in the original's code scheme: HTTP status + four digits.

Every error response is JSON ``{"status", "msg", "detail", "code"}``. ``msg``
is for the person using a client, ``detail`` for its developer, ``code`` for
the program (``4090004`` is "409, error 4"). The numbers 1-10 keep the
original's meaning; 11 and up are this service's additions.

The statuses follow HTTP rather than the original's "400 for everything": a
missing, broken, expired or unknown credential is 401 (with
``WWW-Authenticate``), a request that is well formed but clashes with what
exists (a taken e-mail, a full key or whitelist quota) is 409. Clients and
schema-driven tools then tell "fix the request" (400/422) from "authenticate"
(401) and "the state forbids it" (409) by the status alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = [
    "APIError",
    "AccessKeyNotFoundError",
    "BodyTooLargeError",
    "EmailExistsError",
    "IPNotAllowedError",
    "InvalidIPError",
    "MaxKeyCountError",
    "MaxWhitelistCountError",
    "NoKeyMatchError",
    "NoMatchUserError",
    "NonceReusedError",
    "NotAuthorizedError",
    "QueryStringError",
    "RateLimitUnavailableError",
    "ResourceNotFoundError",
    "SignatureError",
    "SignatureSchemeError",
    "TimestampError",
    "TokenDecodeError",
    "TokenExpiredError",
    "TooManyRequestsError",
    "error_body",
]


def error_body(status: int, code: str, msg: str, detail: str) -> dict[str, Any]:
    """The JSON body of every error response.

    Example:
        >>> error_body(404, "4040003", "NO_KEY_MATCH", "No such key.")["code"]
        '4040003'
    """
    return {"status": status, "msg": msg, "detail": detail, "code": code}


class APIError(Exception):
    """An error the service answers on purpose; subclasses fix status, code and msg.

    Example:
        >>> error = MaxKeyCountError(3)
        >>> error.status, error.code, error.msg
        (409, '4090004', 'MAX_KEY_COUNT')
    """

    status: int = 500
    number: int = 0
    msg: str = "INTERNAL_ERROR"
    #: Response headers the error needs (``WWW-Authenticate`` on a 401, ``Retry-After``).
    headers: Mapping[str, str] = {}

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail

    @property
    def code(self) -> str:
        """The seven-digit code: status, then the number padded to four digits."""
        return f"{self.status}{self.number:04d}"

    def body(self) -> dict[str, Any]:
        """This error as a response body.

        Example:
            >>> NotAuthorizedError().body()["status"]
            401
        """
        return error_body(self.status, self.code, self.msg, self.detail)


class _BearerError(APIError):
    # RFC 9110 §11.6.1: a 401 names the scheme the client should use.
    status = 401
    headers: Mapping[str, str] = {"WWW-Authenticate": "Bearer"}


class _SignedRequestError(APIError):
    # The signed-request scheme is this service's own; the header names it for clients.
    status = 401
    headers: Mapping[str, str] = {"WWW-Authenticate": "Signature"}


class NotAuthorizedError(_BearerError):
    """No (or no usable) ``Authorization: Bearer`` header: 401 ``4010001``."""

    number, msg = 1, "NOT_AUTHORIZED"

    def __init__(self, detail: str = "Authorization required: send 'Bearer <token>'.") -> None:
        super().__init__(detail)


class TokenExpiredError(_BearerError):
    """The JWT's ``exp`` has passed: 401 ``4010015``; log in again.

    The original's number 1 is ``NOT_AUTHORIZED``'s under 401, hence 15.
    """

    number, msg = 15, "TOKEN_EXPIRED"

    def __init__(self) -> None:
        super().__init__("The token has expired: log in again for a new one.")


class TokenDecodeError(_BearerError):
    """The JWT is malformed or its signature is wrong: 401 ``4010002``."""

    number, msg = 2, "TOKEN_DECODE"

    def __init__(self) -> None:
        super().__init__("The token could not be decoded or verified.")


class NoKeyMatchError(APIError):
    """No API key with that id among the caller's keys: 404 ``4040003``."""

    status, number, msg = 404, 3, "NO_KEY_MATCH"

    def __init__(self, key_id: int) -> None:
        super().__init__(f"You have no API key with id {key_id}.")


class MaxKeyCountError(APIError):
    """The caller already has the maximum of active keys: 409 ``4090004``."""

    status, number, msg = 409, 4, "MAX_KEY_COUNT"

    def __init__(self, limit: int) -> None:
        super().__init__(f"At most {limit} active API keys: stop or delete one first.")


class MaxWhitelistCountError(APIError):
    """The key already has the maximum of whitelist entries: 409 ``4090005``."""

    status, number, msg = 409, 5, "MAX_WHITELIST_COUNT"

    def __init__(self, limit: int) -> None:
        super().__init__(f"At most {limit} whitelisted IPs per key: delete one first.")


class InvalidIPError(APIError):
    """A whitelist entry that is not an IPv4 or IPv6 address: 400 ``4000006``."""

    status, number, msg = 400, 6, "INVALID_IP"

    def __init__(self, value: str) -> None:
        super().__init__(f"{value!r} is not an IPv4 or IPv6 address.")


class QueryStringError(_SignedRequestError):
    """``key``, ``timestamp`` or ``nonce`` missing, repeated or malformed: 401 ``4010007``."""

    number, msg = 7, "INVALID_QUERY_STRING"

    def __init__(self, detail: str | None = None) -> None:
        super().__init__(
            detail
            or "Signed requests take the query parameters key, timestamp (epoch seconds) and "
            "nonce, each once."
        )


class SignatureError(_SignedRequestError):
    """The ``secret`` header is missing or is not the request's HMAC: 401 ``4010008``."""

    number, msg = 8, "INVALID_SIGNATURE"

    def __init__(self) -> None:
        super().__init__(
            "Header 'secret' must be base64(HMAC-SHA256(secret_key, canonical request)) of "
            "this method, path, query and body (see the API's documentation)."
        )


class SignatureSchemeError(_SignedRequestError):
    """No or an unknown ``X-Signature-Scheme`` header: 401 ``4010020``.

    Example:
        >>> SignatureSchemeError(None).code
        '4010020'
    """

    number, msg = 20, "UNSUPPORTED_SIGNATURE_SCHEME"

    def __init__(self, named: str | None) -> None:
        shown = "no X-Signature-Scheme header" if named is None else f"scheme {named[:40]!r}"
        super().__init__(
            f"Signed requests need the header X-Signature-Scheme: NAPI-HMAC-SHA256-V2 "
            f"({shown} given; the legacy scheme is not accepted by this server)."
        )


class NonceReusedError(_SignedRequestError):
    """This key already sent a request with this nonce (a replay): 401 ``4010021``.

    Example:
        >>> NonceReusedError().msg
        'NONCE_REUSED'
    """

    number, msg = 21, "NONCE_REUSED"

    def __init__(self) -> None:
        super().__init__("This nonce was used already: sign each request with a new nonce.")


class TimestampError(_SignedRequestError):
    """The ``timestamp`` is outside the accepted window: 401 ``4010009``."""

    number, msg = 9, "INVALID_TIMESTAMP"

    def __init__(self, window: int) -> None:
        super().__init__(f"timestamp must be the current epoch time in seconds (±{window} s).")


class AccessKeyNotFoundError(_SignedRequestError):
    """No active API key with that access key: 401 ``4010010`` (a credential, not a resource)."""

    number, msg = 10, "ACCESS_KEY_NOT_FOUND"

    def __init__(self) -> None:
        super().__init__("No active API key has this access key.")


class EmailExistsError(APIError):
    """Register with an e-mail that already has an account: 409 ``4090012``."""

    status, number, msg = 409, 12, "EMAIL_EXISTS"

    def __init__(self) -> None:
        super().__init__("An account with this email exists already: log in instead.")


class NoMatchUserError(_BearerError):
    """Log-in with an unknown e-mail or a wrong password (one answer for both): ``4010014``."""

    number, msg = 14, "NO_MATCH_USER"

    def __init__(self) -> None:
        super().__init__("No user matches this email and password.")


class IPNotAllowedError(APIError):
    """The key has a whitelist and the client's IP is not on it: 403 ``4030001``."""

    status, number, msg = 403, 1, "IP_NOT_ALLOWED"

    def __init__(self, ip: str) -> None:
        super().__init__(f"This API key does not accept requests from {ip}.")


class WebhookNotAllowedError(APIError):
    """A webhook address this server does not deliver to (its address policy): 403 ``4030002``.

    A well-formed URL whose host is private, loopback, link-local, reserved, written
    in an unusual form, or outside ``WEBHOOK_ALLOWED_NETWORKS``: a refusal by policy
    (the schema cannot know the setting), not a malformed value.

    Example:
        >>> WebhookNotAllowedError("a private address").code
        '4030002'
    """

    status, number, msg = 403, 2, "WEBHOOK_NOT_ALLOWED"

    def __init__(self, reason: str) -> None:
        super().__init__(f"This server does not deliver webhooks to this address: {reason}.")


class BodyTooLargeError(APIError):
    """The request body is larger than ``MAX_BODY_BYTES``: 413 ``4130001``.

    Example:
        >>> BodyTooLargeError(1024).code
        '4130001'
    """

    status, number, msg = 413, 1, "BODY_TOO_LARGE"

    def __init__(self, limit: int) -> None:
        super().__init__(f"The request body may be at most {limit} bytes.")


class ResourceNotFoundError(APIError):
    """A path id that names nothing of the caller's: 404 ``4040000`` (sqlrecord's code for it).

    Example:
        >>> ResourceNotFoundError("No notification with id 7.").body()["code"]
        '4040000'
    """

    status, number, msg = 404, 0, "NOT_FOUND"


class TooManyRequestsError(APIError):
    """A rate limit is reached: 429 ``4290001``, with ``Retry-After`` in seconds.

    Example:
        >>> error = TooManyRequestsError("login", 12)
        >>> error.code, error.headers
        ('4290001', {'Retry-After': '12'})
    """

    status, number, msg = 429, 1, "TOO_MANY_REQUESTS"

    def __init__(self, scope: str, retry_after: int) -> None:
        super().__init__(f"Too many {scope} requests: try again in {retry_after} s.")
        self.headers = {"Retry-After": str(retry_after)}


class RateLimitUnavailableError(APIError):
    """The rate limits' storage (Redis) cannot be reached: 503 ``5030003``, try again.

    Example:
        >>> RateLimitUnavailableError().headers
        {'Retry-After': '1'}
    """

    status, number, msg = 503, 3, "TRY_AGAIN"

    def __init__(self) -> None:
        super().__init__("The service is busy; try again in a moment.")
        self.headers = {"Retry-After": "1"}
