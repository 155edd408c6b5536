"""Which protected attributes a call may set: ``__protected_attributes__`` against ``using()``.

Protected names are refused from every call that takes field values, unless
the code (never a request) trusted them with
``Model.using(allow_protected=...)``. ``fill``, the bulk writes and
``Query.update`` all ask here, so the rule and its message live in one place.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from ._model_info import model_info
from .exceptions import InvalidFieldError, InvalidValueError, ProtectedFieldError

__all__ = ["Trusted", "is_trusted", "protected_error", "trusted_names"]

#: What ``using(allow_protected=...)`` leaves: every protected name, none, or these.
Trusted = bool | frozenset[str]


def trusted_names(model: type[Any], allow_protected: Any) -> Trusted:
    """``allow_protected`` checked and made a bool or a frozenset of protected names.

    A single string counts as one name (not as its characters); a name that is
    not protected is refused, so that a typo does not pass silently.

    Example:
        >>> trusted_names(User, "is_admin"), trusted_names(User, False)
        (frozenset({'is_admin'}), False)
        >>> trusted_names(User, ["email"])  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        sqlrecord.exceptions.InvalidFieldError: allow_protected names ... 'email' is not one.
    """
    if isinstance(allow_protected, bool):
        return allow_protected
    names = (allow_protected,) if isinstance(allow_protected, str) else allow_protected
    if not isinstance(names, Collection) or not all(isinstance(name, str) for name in names):
        raise InvalidValueError(
            "allow_protected takes True, False or a collection of protected field names, "
            f"got {allow_protected!r}."
        )
    info = model_info(model)
    for name in names:
        if name not in info.protected_names:
            raise InvalidFieldError(
                f"allow_protected names {model.__name__}'s protected fields "
                f"({', '.join(sorted(info.protected_names)) or 'it has none'}); "
                f"{name!r} is not one.",
                model=model.__name__,
                field=name,
                valid=sorted(info.protected_names),
            )
    return frozenset(names)


def is_trusted(name: str, trusted: Trusted | Collection[str]) -> bool:
    """Whether the protected attribute ``name`` may be set under ``trusted``.

    Example:
        >>> is_trusted("is_admin", frozenset({"is_admin"})), is_trusted("is_admin", False)
        (True, False)
    """
    if isinstance(trusted, bool):
        return trusted
    return name in trusted


def protected_error(model: type[Any], name: str) -> ProtectedFieldError:
    """The error for a protected attribute in a call's field values.

    Example:
        >>> print(protected_error(User, "is_admin"))  # doctest: +ELLIPSIS
        User.is_admin is protected from mass assignment. Set it in code ...
    """
    cls = model.__name__
    return ProtectedFieldError(
        f"{cls}.{name} is protected from mass assignment. Set it in code "
        f"(obj.{name} = value), or write through {cls}.using(allow_protected={{{name!r}}}) "
        "when the value is trusted.",
        model=cls,
        field=name,
        valid=model_info(model).fillable_names,
    )
