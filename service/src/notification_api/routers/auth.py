"""Register and log in: ``/api/auth/register/{sns_type}``, ``/api/auth/login/{sns_type}``."""

from __future__ import annotations

from enum import StrEnum

from fastapi import APIRouter, Request

from sqlrecord.exceptions import DuplicateKeyError

from ..deps import IN_UNIT_OF_WORK, AppSettings, remember_user
from ..errors import EmailExistsError, NoMatchUserError
from ..models import User
from ..passwords import hash_password, verify_password
from ..ratelimit import RATE_LIMITED, limit_by_address
from ..schemas import ErrorOut, Token, UserRegister
from ..settings import Settings
from ..tokens import create_token

__all__ = ["SnsType", "router"]

router = APIRouter(prefix="/api/auth", tags=["auth"], dependencies=[IN_UNIT_OF_WORK])
_REGISTER_ERRORS: dict[int | str, dict[str, object]] = {
    409: {"model": ErrorOut},
    422: {"model": ErrorOut},
    429: RATE_LIMITED,
}
_LOGIN_ERRORS: dict[int | str, dict[str, object]] = {
    401: {"model": ErrorOut},
    422: {"model": ErrorOut},
    429: RATE_LIMITED,
}


class SnsType(StrEnum):
    """The sign-in types this service implements: ``email``.

    The original listed ``facebook``, ``google`` and ``kakao`` too and refused
    them at run time; a type is added here when it works, so that the schema
    offers only what the route accepts (any other value is a 422).
    """

    email = "email"


def _token_for(user: User, request: Request, settings: Settings) -> Token:
    remember_user(request, user)
    return Token(Authorization=f"Bearer {create_token(settings, user.id, user.token_key)}")


@router.post(
    "/register/{sns_type}",
    status_code=201,
    responses=_REGISTER_ERRORS,
    dependencies=[limit_by_address("register")],
)
async def register(
    sns_type: SnsType,
    body: UserRegister,
    request: Request,
    settings: AppSettings,
) -> Token:
    """Create an account and return a token for it (409 ``EMAIL_EXISTS`` for a taken e-mail)."""
    email, password = body.email, body.pw
    if await User.get(email=email) is not None:
        raise EmailExistsError()
    try:
        user = await User.using(allow_protected={"email", "pw", "sns_type"}).create(
            email=email, pw=await hash_password(password), sns_type=sns_type.value
        )
    except DuplicateKeyError as error:  # a concurrent registration won the race
        raise EmailExistsError() from error
    return _token_for(user, request, settings)


@router.post("/login/{sns_type}", responses=_LOGIN_ERRORS, dependencies=[limit_by_address("login")])
async def login(
    sns_type: SnsType,
    body: UserRegister,
    request: Request,
    settings: AppSettings,
) -> Token:
    """Exchange e-mail and password for a token; one answer (401) for every mismatch."""
    email, password = body.email, body.pw
    user = await User.get(email=email)
    # verify_password runs even without a user: the answer takes as long either way.
    matched = await verify_password(password, user.pw if user else None)
    if not matched or user is None or user.status != "active":
        raise NoMatchUserError()
    return _token_for(user, request, settings)
