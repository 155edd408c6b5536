"""Small helpers that read the database behind the library's back."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from sqlrecord import Database


async def count_rows(db: Database, model: type[Any], **where: Any) -> int:
    """Count rows in a fresh session (sees only committed data)."""
    async with db.sessionmaker() as session:
        statement = select(func.count()).select_from(model).filter_by(**where)
        return int(await session.scalar(statement) or 0)


async def fetch_column(db: Database, model: type[Any], column: str, **where: Any) -> list[Any]:
    async with db.sessionmaker() as session:
        statement = select(getattr(model, column)).filter_by(**where).order_by(column)
        return list((await session.scalars(statement)).all())
