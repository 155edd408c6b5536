"""How the query machinery recognises soft-delete models (without importing them)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.sql import ColumnElement

from .exceptions import ConfigurationError

__all__ = ["deleted_condition", "live_condition", "require_soft_delete", "soft_delete_column"]


def soft_delete_column(model: Any) -> str | None:
    """The soft-delete column's attribute name, or ``None`` for an ordinary model.

    Example:
        >>> soft_delete_column(User) is None
        True
    """
    return getattr(model, "__soft_delete_column__", None)


def live_condition(model: Any) -> ColumnElement[bool]:
    """``<soft-delete column> IS NULL`` for ``model`` (a class or an alias of one).

    Example:
        >>> print(live_condition(Memo))
        doc_memos.deleted_at IS NULL
    """
    column: Any = getattr(model, model.__soft_delete_column__)
    return column.is_(None)  # type: ignore[no-any-return]


def deleted_condition(model: Any) -> ColumnElement[bool]:
    """``<soft-delete column> IS NOT NULL`` for ``model``: the soft-deleted rows only.

    Example:
        >>> print(deleted_condition(Memo))
        doc_memos.deleted_at IS NOT NULL
    """
    column: Any = getattr(model, model.__soft_delete_column__)
    return column.is_not(None)  # type: ignore[no-any-return]


def require_soft_delete(model: Any, call: str) -> None:
    """Refuse ``call`` (``"with_deleted()"``) on a model without soft delete, where it
    would change nothing and hide the mistake.

    Example:
        >>> require_soft_delete(User, "only_deleted()")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        sqlrecord.exceptions.ConfigurationError: User has no soft delete, so only_deleted() ...
    """
    if soft_delete_column(model) is None:
        name = model.__name__
        raise ConfigurationError(
            f"{name} has no soft delete, so {call} has nothing to include: its rows are "
            f"deleted for good. Soft delete comes with SoftDeleteMixin "
            f"(`class {name}(SoftDeleteMixin, BaseModel)`); without it, leave {call} out."
        )
