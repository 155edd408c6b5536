"""JWT access tokens (PyJWT): ``sub`` is the user id, ``tk`` the account's token key.

``exp`` bounds the lifetime. ``tk`` binds the token to the account it was
issued for: the key is random per account (``User.token_key``) and compared
on every request (:func:`notification_api.deps.current_user`), so a token
stops working when its account is deleted, even if a later account gets the
same id, and when the key is changed.
"""

from __future__ import annotations

import datetime as dt
from typing import NamedTuple

import jwt

from .errors import TokenDecodeError, TokenExpiredError
from .settings import Settings

__all__ = ["TokenClaims", "create_token", "read_token"]


class TokenClaims(NamedTuple):
    """What a valid token says: whose it is, and the token key it was issued with."""

    user_id: int
    token_key: str


def create_token(
    settings: Settings, user_id: int, token_key: str, *, now: dt.datetime | None = None
) -> str:
    """A signed token for ``user_id`` that expires after ``token_lifetime_minutes``.

    Example:
        >>> settings = Settings(api_env="test", jwt_secret="s" * 32)
        >>> read_token(settings, create_token(settings, 7, "key-of-7"))
        TokenClaims(user_id=7, token_key='key-of-7')
    """
    issued = now or dt.datetime.now(dt.UTC)
    claims = {
        "sub": str(user_id),
        "tk": token_key,
        "iat": issued,
        "exp": issued + dt.timedelta(minutes=settings.token_lifetime_minutes),
    }
    return jwt.encode(claims, settings.jwt_key, algorithm=settings.jwt_algorithm)


def read_token(settings: Settings, token: str) -> TokenClaims:
    """The claims of a valid token; else :class:`TokenExpiredError` or :class:`TokenDecodeError`.

    A token without ``tk`` (issued before token keys existed) is refused as
    undecodable: its owner logs in again.

    Example:
        >>> settings = Settings(api_env="test", jwt_secret="s" * 32)
        >>> old = create_token(settings, 7, "k", now=dt.datetime(2020, 1, 1, tzinfo=dt.UTC))
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
            # ``tk`` is checked below, after ``exp``: an expired token says so first.
            options={"require": ["exp", "sub"]},
        )
        user_id = int(claims["sub"])
    except jwt.ExpiredSignatureError as error:
        raise TokenExpiredError() from error
    except (jwt.InvalidTokenError, ValueError) as error:
        raise TokenDecodeError() from error
    token_key = claims.get("tk")
    if not isinstance(token_key, str) or not token_key:
        raise TokenDecodeError()
    return TokenClaims(user_id, token_key)
