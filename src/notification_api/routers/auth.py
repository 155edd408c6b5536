"""Register and log in: ``/api/auth/register/{sns_type}``, ``/api/auth/login/{sns_type}``."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from fastapi import APIRouter, Depends, Request

from sqlrecord.exceptions import DuplicateKeyError

from ..deps import IN_UNIT_OF_WORK, app_settings, remember_user
from ..errors import EmailExistsError, MissingFieldsError, NoMatchUserError, NotSupportedError
from ..models import User
from ..passwords import hash_password, verify_password
from ..schemas import ErrorOut, Token, UserRegister
from ..settings import Settings
from ..tokens import create_token

__all__ = ["SnsType", "router"]

router = APIRouter(prefix="/api/auth", tags=["auth"], dependencies=[IN_UNIT_OF_WORK])
_ERRORS: dict[int | str, dict[str, object]] = {400: {"model": ErrorOut}}


class SnsType(StrEnum):
    """The sign-in types of the original; only ``email`` is implemented."""

    email = "email"
    facebook = "facebook"
    google = "google"
    kakao = "kakao"


def _credentials(sns_type: SnsType, body: UserRegister) -> tuple[str, str]:
    if sns_type is not SnsType.email:
        raise NotSupportedError(sns_type.value)
    if not body.email or not body.pw:
        raise MissingFieldsError()
    return body.email, body.pw


@router.post("/register/{sns_type}", status_code=201, responses=_ERRORS)
async def register(
    sns_type: SnsType,
    body: UserRegister,
    request: Request,
    settings: Annotated[Settings, Depends(app_settings)],
) -> Token:
    """Create an account and return a token for it."""
    email, password = _credentials(sns_type, body)
    if await User.get(email=email) is not None:
        raise EmailExistsError()
    try:
        user = await User.create(
            email=email,
            pw=await hash_password(password),
            sns_type=sns_type.value,
            allow_protected={"email", "pw", "sns_type"},
        )
    except DuplicateKeyError as error:  # a concurrent registration won the race
        raise EmailExistsError() from error
    remember_user(request, user)
    return Token(Authorization=f"Bearer {create_token(settings, user.id)}")


@router.post("/login/{sns_type}", responses=_ERRORS)
async def login(
    sns_type: SnsType,
    body: UserRegister,
    request: Request,
    settings: Annotated[Settings, Depends(app_settings)],
) -> Token:
    """Exchange e-mail and password for a token; one answer for every mismatch."""
    email, password = _credentials(sns_type, body)
    user = await User.get(email=email)
    # verify_password runs even without a user: the answer takes as long either way.
    if not await verify_password(password, user.pw if user else None) or user is None:
        raise NoMatchUserError()
    if user.status != "active":
        raise NoMatchUserError()
    remember_user(request, user)
    return Token(Authorization=f"Bearer {create_token(settings, user.id)}")
