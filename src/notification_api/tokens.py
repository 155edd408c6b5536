"""JWT access tokens (PyJWT): ``sub`` is the user id, ``exp`` bounds the lifetime."""

from __future__ import annotations

import datetime as dt

import jwt

from .errors import TokenDecodeError, TokenExpiredError
from .settings import Settings

__all__ = ["create_token", "read_token"]


def create_token(settings: Settings, user_id: int, *, now: dt.datetime | None = None) -> str:
    """A signed token for ``user_id`` that expires after ``token_lifetime_minutes``.

    Example:
        >>> settings = Settings(api_env="test", jwt_secret="s" * 32)
        >>> read_token(settings, create_token(settings, 7))
        7
    """
    issued = now or dt.datetime.now(dt.UTC)
    claims = {
        "sub": str(user_id),
        "iat": issued,
        "exp": issued + dt.timedelta(minutes=settings.token_lifetime_minutes),
    }
    return jwt.encode(claims, settings.jwt_key, algorithm=settings.jwt_algorithm)


def read_token(settings: Settings, token: str) -> int:
    """The user id in a valid token; else :class:`TokenExpiredError` or :class:`TokenDecodeError`.

    Example:
        >>> settings = Settings(api_env="test", jwt_secret="s" * 32)
        >>> old = create_token(settings, 7, now=dt.datetime(2020, 1, 1, tzinfo=dt.UTC))
        >>> read_token(settings, old)
        Traceback (most recent call last):
        ...
        notification_api.errors.TokenExpiredError: The token has expired: log in again ...
    """
    try:
        claims = jwt.decode(
            token,
            settings.jwt_key,
            algorithms=[settings.jwt_algorithm],
            options={"require": ["exp", "sub"]},
        )
        return int(claims["sub"])
    except jwt.ExpiredSignatureError as error:
        raise TokenExpiredError() from error
    except (jwt.InvalidTokenError, ValueError) as error:
        raise TokenDecodeError() from error
