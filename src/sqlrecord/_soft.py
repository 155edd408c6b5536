"""How the query machinery recognises soft-delete models (without importing them)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.sql import ColumnElement

__all__ = ["live_condition", "soft_delete_column"]


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
