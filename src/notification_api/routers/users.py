"""The signed-in user: ``GET``, ``PATCH`` and ``DELETE /api/users/me``."""

from __future__ import annotations

import inspect

from fastapi import APIRouter

from sqlrecord.exceptions import InvalidFieldError
from sqlrecord.introspection import model_info

from ..deps import IN_UNIT_OF_WORK, CurrentUser
from ..models import User
from ..schemas import ErrorOut, UserOut, UserUpdate

__all__ = ["router"]

router = APIRouter(prefix="/api/users", tags=["users"], dependencies=[IN_UNIT_OF_WORK])
_ERRORS: dict[int | str, dict[str, object]] = {
    400: {"model": ErrorOut},
    401: {"model": ErrorOut},
}
# ``update``'s own keyword options (``allow_protected``, ``session``, ...). The
# body is passed as keywords, so a body naming one would set the option instead
# of a field: ``{"allow_protected": true, "status": "admin"}`` would get through.
_UPDATE_OPTIONS = frozenset(
    name
    for name, parameter in inspect.signature(User.update).parameters.items()
    if parameter.kind is inspect.Parameter.KEYWORD_ONLY
)


@router.get("/me", responses=_ERRORS)
async def read_me(user: CurrentUser) -> UserOut:
    """The account behind the token."""
    return UserOut.model_validate(user)


@router.patch("/me", responses={**_ERRORS, 422: {"model": ErrorOut}})
async def update_me(body: UserUpdate, user: CurrentUser) -> UserOut:
    """Change name, phone number, profile image or marketing consent.

    The body goes to sqlrecord's ``update`` as given: ``status``, ``pw``,
    ``email`` (protected) or an unknown field are refused with 422.
    """
    changes = body.model_dump(exclude_unset=True)
    if options := sorted(_UPDATE_OPTIONS & changes.keys()):
        raise InvalidFieldError.unknown("User", options[0], model_info(User).fillable_names)
    await user.update(**changes)
    return UserOut.model_validate(user)


@router.delete("/me", status_code=204, responses=_ERRORS)
async def delete_me(user: CurrentUser) -> None:
    """Delete the account; its keys, whitelists and notifications go with it (ON DELETE CASCADE)."""
    await user.delete()
