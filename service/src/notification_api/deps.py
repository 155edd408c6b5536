"""FastAPI dependencies: the request's unit of work, settings, and the signed-in user."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials
from sqlalchemy.ext.asyncio import AsyncSession

from sqlrecord.fastapi import request_session

from .errors import NotAuthorizedError
from .models import User
from .openapi import BEARER
from .settings import Settings
from .tokens import read_token

__all__ = [
    "IN_UNIT_OF_WORK",
    "READ_ONLY_METHODS",
    "AppSettings",
    "CurrentUser",
    "UnitOfWork",
    "app_settings",
    "current_user",
    "remember_user",
]


def app_settings(request: Request) -> Settings:
    """The running app's settings.

    Example:
        >>> from fastapi import Depends
        >>> dependency = Depends(app_settings)
    """
    settings: Settings = request.app.state.settings
    return settings


AppSettings = Annotated[Settings, Depends(app_settings)]


#: Methods that only read (HTTP's safe methods): no route of this service writes in them.
READ_ONLY_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

#: The request's unit of work, in the app's database (``db.init_app``): its session is
#: the ambient one for model calls; committed before the response for a method that
#: writes, which on SQLite takes the write lock first; a ``GET``, ``HEAD`` or
#: ``OPTIONS`` request only reads, so its session is closed without a COMMIT (the ORM's
#: commit is CPU spent on nothing to keep); ``tests/notification_api/test_read_only.py``
#: checks that no such route sends a write. For a router's ``dependencies=[...]``.
IN_UNIT_OF_WORK = request_session(commit="unsafe_methods")
#: The same, as a parameter: ``session: UnitOfWork``.
UnitOfWork = Annotated[AsyncSession, IN_UNIT_OF_WORK]


async def current_user(
    request: Request,
    session: UnitOfWork,  # opened first: the model calls below run in its session
    settings: AppSettings,
    # Declares the BearerToken scheme on every route that needs a user (the schema's
    # security, Swagger's Authorize); None when the header is missing or not Bearer.
    credentials: Annotated[HTTPAuthorizationCredentials | None, Security(BEARER)],
) -> User:
    """The user named by the ``Authorization: Bearer <jwt>`` header.

    401 ``4010001`` without a usable header, for a deleted account, or when
    the token's key is not the account's (the account was deleted and its id
    went to another one, or its tokens were revoked); 401 ``4010015``/``4010002``
    for an expired or broken token.

    Example:
        >>> from fastapi import Depends
        >>> dependency = Depends(current_user)
    """
    if credentials is None or not credentials.credentials.strip():
        raise NotAuthorizedError()
    claims = read_token(settings, credentials.credentials.strip())
    user = await User.get(claims.user_id)
    # The id alone names a row, not an account: it may belong to a newer one.
    if (
        user is None
        or user.status != "active"
        or not hmac.compare_digest(user.token_key.encode(), claims.token_key.encode())
    ):
        raise NotAuthorizedError("The account of this token no longer exists.")
    remember_user(request, user)
    return user


def remember_user(request: Request, user: User) -> None:
    """Note the request's user for the access log.

    Example:
        >>> callable(remember_user)
        True
    """
    request.state.user_id = user.id
    request.state.email = user.email


CurrentUser = Annotated[User, Depends(current_user)]
