"""``db.transaction(savepoints=False)``: a unit of work whose writes take no SAVEPOINT,
and which stands or falls as a whole."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from sqlrecord import Database
from sqlrecord.exceptions import ConfigurationError, DuplicateKeyError, TransactionAbortedError

from .helpers import count_rows, engine_listener, fetch_column
from .models import Note, Post, User


@contextmanager
def statements_seen(db: Database) -> Iterator[list[str]]:
    """The first word of every statement sent (SAVEPOINT, INSERT, ...)."""
    seen: list[str] = []

    def before(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement.split()[0].upper())

    with engine_listener(db, "before_cursor_execute", before):
        yield seen


async def test_writes_take_no_savepoint_and_all_commit(db: Database) -> None:
    with statements_seen(db) as seen:
        async with db.transaction(savepoints=False):
            author = await User.create(email="kim@example.com")
            for n in range(3):
                await Post.create(title=f"p{n}", author=author)  # a relationship: the ORM's flush
            await Note.create(text="a", code="n1")  # one statement: direct
            author.name = "Kim"
            await author.save()
    assert "SAVEPOINT" not in seen and seen.count("INSERT") == 5
    assert await count_rows(db, Post) == 3
    assert await fetch_column(db, User, "name") == ["Kim"]


async def test_a_failed_write_rolls_back_the_whole_unit(db: Database) -> None:
    await Note.create(text="before", code="taken")
    with pytest.raises(DuplicateKeyError):
        async with db.transaction(savepoints=False):
            await Note.create(text="a", code="n1")
            await Note.create(text="b", code="taken")  # refused: the unit goes
    assert await fetch_column(db, Note, "code") == ["taken"]
    assert db.checked_out() == 0  # type: ignore[attr-defined]


async def test_after_a_failed_write_the_unit_refuses_to_go_on(db: Database) -> None:
    await Note.create(text="before", code="taken")
    with pytest.raises(TransactionAbortedError, match="rolled back"):
        async with db.transaction(savepoints=False):
            await Note.create(text="a", code="n1")
            with pytest.raises(DuplicateKeyError):
                await Note.create(text="b", code="taken")
            with pytest.raises(TransactionAbortedError, match="run the unit again"):
                await Note.create(text="c", code="n2")  # a write
            with pytest.raises(TransactionAbortedError):
                await Note.filter_by().count()  # and a read
            # The error was swallowed: the block's end says that nothing was kept.
    assert await fetch_column(db, Note, "code") == ["taken"]


async def test_a_nested_unit_keeps_its_savepoint(db: Database) -> None:
    with statements_seen(db) as seen:
        async with db.transaction(savepoints=False):
            await Note.create(text="outer", code="n1")
            with pytest.raises(DuplicateKeyError):
                async with db.transaction():  # a SAVEPOINT, as always
                    await Note.create(text="inner", code="n2")
                    await Note.create(text="clash", code="n1")
            await Note.create(text="after", code="n3")  # the outer unit goes on
    # The outer unit's writes take none; the nested block takes its own, and so
    # do the writes in it, as in any unit of work.
    assert seen[0] == "INSERT" and seen[-1] == "INSERT"
    assert seen.count("SAVEPOINT") == 3
    assert await fetch_column(db, Note, "code") == ["n1", "n3"]


async def test_savepoints_false_inside_another_unit_is_refused(db: Database) -> None:
    async with db.transaction():
        with pytest.raises(ConfigurationError, match="savepoints=False"):
            async with db.transaction(savepoints=False):
                pass
        await Note.create(text="the outer unit is unharmed", code="n1")
    assert await count_rows(db, Note) == 1


async def test_the_decorator_form_takes_it_too(db: Database) -> None:
    @db.transaction(savepoints=False, retries=2)
    async def add_both() -> None:
        await Note.create(text="a", code="n1")
        await Note.create(text="b", code="n2")

    await add_both()
    assert await count_rows(db, Note) == 2
