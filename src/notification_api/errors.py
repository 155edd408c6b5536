"""The service's errors, in the original's code scheme: HTTP status + four digits.

Every error response is JSON ``{"status", "msg", "detail", "code"}``. ``msg``
is for the person using a client, ``detail`` for its developer, ``code`` for
the program (``4000004`` is "400, error 4"). The numbers 1-10 keep the
original's meaning; 11 and up are this service's additions.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "APIError",
    "AccessKeyNotFoundError",
    "EmailExistsError",
    "IPNotAllowedError",
    "InvalidIPError",
    "MaxKeyCountError",
    "MaxWhitelistCountError",
    "MissingFieldsError",
    "NoKeyMatchError",
    "NoMatchUserError",
    "NotAuthorizedError",
    "NotSupportedError",
    "QueryStringError",
    "RateLimitUnavailableError",
    "SignatureError",
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
        (400, '4000004', 'MAX_KEY_COUNT')
    """

    status: int = 500
    number: int = 0
    msg: str = "INTERNAL_ERROR"
    #: Extra response headers (``Retry-After`` of a 429).
    headers: dict[str, str]

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail
        self.headers = {}

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


class NotAuthorizedError(APIError):
    """No (or no usable) ``Authorization: Bearer`` header: 401 ``4010001``."""

    status, number, msg = 401, 1, "NOT_AUTHORIZED"

    def __init__(self, detail: str = "Authorization required: send 'Bearer <token>'.") -> None:
        super().__init__(detail)


class TokenExpiredError(APIError):
    """The JWT's ``exp`` has passed: 400 ``4000001``; log in again."""

    status, number, msg = 400, 1, "TOKEN_EXPIRED"

    def __init__(self) -> None:
        super().__init__("The token has expired: log in again for a new one.")


class TokenDecodeError(APIError):
    """The JWT is malformed or its signature is wrong: 400 ``4000002``."""

    status, number, msg = 400, 2, "TOKEN_DECODE"

    def __init__(self) -> None:
        super().__init__("The token could not be decoded or verified.")


class NoKeyMatchError(APIError):
    """No API key with that id among the caller's keys: 404 ``4040003``."""

    status, number, msg = 404, 3, "NO_KEY_MATCH"

    def __init__(self, key_id: int) -> None:
        super().__init__(f"You have no API key with id {key_id}.")


class MaxKeyCountError(APIError):
    """The caller already has the maximum of active keys: 400 ``4000004``."""

    status, number, msg = 400, 4, "MAX_KEY_COUNT"

    def __init__(self, limit: int) -> None:
        super().__init__(f"At most {limit} active API keys: stop or delete one first.")


class MaxWhitelistCountError(APIError):
    """The key already has the maximum of whitelist entries: 400 ``4000005``."""

    status, number, msg = 400, 5, "MAX_WHITELIST_COUNT"

    def __init__(self, limit: int) -> None:
        super().__init__(f"At most {limit} whitelisted IPs per key: delete one first.")


class InvalidIPError(APIError):
    """A whitelist entry that is not an IPv4 or IPv6 address: 400 ``4000006``."""

    status, number, msg = 400, 6, "INVALID_IP"

    def __init__(self, value: str) -> None:
        super().__init__(f"{value!r} is not an IPv4 or IPv6 address.")


class QueryStringError(APIError):
    """A signed request without ``key`` and ``timestamp`` (and nothing else): ``4000007``."""

    status, number, msg = 400, 7, "INVALID_QUERY_STRING"

    def __init__(self) -> None:
        super().__init__(
            "Signed requests take exactly two query parameters, key and timestamp "
            "(epoch seconds), each once."
        )


class SignatureError(APIError):
    """The ``secret`` header is missing or is not the request's HMAC: ``4000008``."""

    status, number, msg = 400, 8, "INVALID_SIGNATURE"

    def __init__(self) -> None:
        super().__init__(
            "Header 'secret' must be base64(HMAC-SHA256(secret_key, raw query string))."
        )


class TimestampError(APIError):
    """The ``timestamp`` is outside the accepted window: 400 ``4000009``."""

    status, number, msg = 400, 9, "INVALID_TIMESTAMP"

    def __init__(self, window: int) -> None:
        super().__init__(f"timestamp must be the current epoch time in seconds (±{window} s).")


class AccessKeyNotFoundError(APIError):
    """No active API key with that access key: 404 ``4040010``."""

    status, number, msg = 404, 10, "ACCESS_KEY_NOT_FOUND"

    def __init__(self) -> None:
        super().__init__("No active API key has this access key.")


class MissingFieldsError(APIError):
    """Register or log in without e-mail or password: 400 ``4000011``."""

    status, number, msg = 400, 11, "MISSING_FIELDS"

    def __init__(self) -> None:
        super().__init__("Both email and pw must be provided.")


class EmailExistsError(APIError):
    """Register with an e-mail that already has an account: 400 ``4000012``."""

    status, number, msg = 400, 12, "EMAIL_EXISTS"

    def __init__(self) -> None:
        super().__init__("An account with this email exists already: log in instead.")


class NotSupportedError(APIError):
    """A social sign-in type this service does not implement: 400 ``4000013``."""

    status, number, msg = 400, 13, "NOT_SUPPORTED"

    def __init__(self, sns_type: str) -> None:
        super().__init__(f"Sign-in with {sns_type} is not supported yet; use email.")


class NoMatchUserError(APIError):
    """Log-in with an unknown e-mail or a wrong password (one answer for both): ``4000014``."""

    status, number, msg = 400, 14, "NO_MATCH_USER"

    def __init__(self) -> None:
        super().__init__("No user matches this email and password.")


class IPNotAllowedError(APIError):
    """The key has a whitelist and the client's IP is not on it: 403 ``4030001``."""

    status, number, msg = 403, 1, "IP_NOT_ALLOWED"

    def __init__(self, ip: str) -> None:
        super().__init__(f"This API key does not accept requests from {ip}.")


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
