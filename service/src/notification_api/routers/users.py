"""The signed-in user: ``GET``, ``PATCH`` and ``DELETE /api/users/me``."""

from __future__ import annotations

from fastapi import APIRouter

from ..deps import IN_UNIT_OF_WORK, CurrentUser
from ..schemas import ErrorOut, UserOut, UserUpdate

__all__ = ["router"]

router = APIRouter(prefix="/api/users", tags=["users"], dependencies=[IN_UNIT_OF_WORK])
_ERRORS: dict[int | str, dict[str, object]] = {
    400: {"model": ErrorOut},
    401: {"model": ErrorOut},
}


@router.get("/me", responses=_ERRORS)
async def read_me(user: CurrentUser) -> UserOut:
    """The account behind the token."""
    return UserOut.model_validate(user)


@router.patch("/me", responses={**_ERRORS, 422: {"model": ErrorOut}})
async def update_me(body: UserUpdate, user: CurrentUser) -> UserOut:
    """Change name, phone number, profile image or marketing consent.

    Any other field (``status``, ``pw``, ``email``, an unknown name) is refused
    with 422 by the body's schema, before anything reaches the database; and
    sqlrecord's ``update`` has no options a body could reach.
    """
    await user.update(**body.model_dump(exclude_unset=True))
    return UserOut.model_validate(user)


@router.delete("/me", status_code=204, responses=_ERRORS)
async def delete_me(user: CurrentUser) -> None:
    """Delete the account; its keys, whitelists and notifications go with it (ON DELETE CASCADE)."""
    await user.delete()
