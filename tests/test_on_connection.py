"""A Core statement on a session's connection in one hand-off to SQLAlchemy's sync API
(``_on_connection.py``: a served INSERT of an object's row, a SELECT of columns) gives what
``await session.connection()`` and ``await connection.execute()`` give, on every backend;
a statement whose rows would be streamed is refused as ``AsyncConnection.execute`` refuses
it, and nothing is left checked out."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import inspect, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.ext.asyncio.exc import AsyncMethodRequired

from sqlrecord import Database
from sqlrecord._on_connection import execute_on_connection

from .models import Note


async def _two_hand_offs(session: AsyncSession, statement: Any, bind: dict[str, Any]) -> Any:
    connection = await session.connection(bind_arguments=bind)
    return await connection.execute(statement)


async def test_rows_are_those_of_the_session_connection(db: Database) -> None:
    await Note.create(text="a", code="c1")
    await Note.create(text="b")
    table = inspect(Note).local_table
    statement = select(table.c.text, table.c.code).order_by(table.c.id)
    bind = {"mapper": inspect(Note), "clause": statement}
    async with db.sessionmaker() as session:
        one = (await execute_on_connection(session, statement, None, bind)).all()
        two = (await _two_hand_offs(session, statement, bind)).all()
    assert one == two == [("a", "c1"), ("b", None)]


@pytest.mark.parametrize("option", [{"yield_per": 10}, {"stream_results": True}])
async def test_streamed_rows_are_refused_as_sqlalchemy_refuses_them(
    db: Database, option: dict[str, Any]
) -> None:
    table = inspect(Note).local_table
    statement = select(table.c.text).execution_options(**option)
    bind = {"mapper": inspect(Note), "clause": statement}
    async with db.sessionmaker() as session:
        with pytest.raises(AsyncMethodRequired) as ours:
            await execute_on_connection(session, statement, None, bind)
        with pytest.raises(AsyncMethodRequired) as theirs:
            await _two_hand_offs(session, statement, bind)
    assert str(ours.value) == str(theirs.value)
    assert db.checked_out() == 0
