"""Dialect-specific statements the SQLAlchemy-based contestants share (upsert)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects import mysql, postgresql, sqlite

__all__ = ["upsert_statement"]


def upsert_statement(dialect: str, table: Any, update: list[str]) -> Any:
    """INSERT … ON CONFLICT (key) DO UPDATE / ON DUPLICATE KEY UPDATE for ``table``.

    ``table`` is a Core table or a mapped class; the rows are given at execution.
    """
    if dialect in ("mysql", "mariadb"):
        statement = mysql.insert(table)
        return statement.on_duplicate_key_update(
            {name: statement.inserted[name] for name in update}
        )
    module = postgresql if dialect == "postgresql" else sqlite
    statement = module.insert(table)
    return statement.on_conflict_do_update(
        index_elements=["key"], set_={name: statement.excluded[name] for name in update}
    )
