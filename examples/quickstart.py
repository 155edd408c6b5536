"""sqlrecord in one file: create, fill, save, update and read a model on SQLite.

Run it with ``python examples/quickstart.py`` where sqlrecord is installed (see the README);
it starts from empty tables on every run. ``./scripts/run`` serves the Notification API.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from pathlib import Path

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from sqlrecord import BaseModel, Database
from sqlrecord.exceptions import DuplicateKeyError, InvalidFieldError, ProtectedFieldError


class Author(BaseModel):
    __tablename__ = "authors"
    __protected_attributes__ = frozenset({"is_admin"})

    email: Mapped[str] = mapped_column(String(120), unique=True)
    name: Mapped[str | None] = mapped_column(String(60))
    is_admin: Mapped[bool] = mapped_column(default=False)
    books: Mapped[list[Book]] = relationship(back_populates="author", cascade="all, delete-orphan")


class Book(BaseModel):
    __tablename__ = "books"

    title: Mapped[str] = mapped_column(String(200))
    author_id: Mapped[int] = mapped_column(ForeignKey("authors.id"))
    author: Mapped[Author] = relationship(back_populates="books")


async def main() -> None:
    default_path = Path(tempfile.gettempdir()) / "sqlrecord-quickstart.db"
    path = os.environ.get("QUICKSTART_DB", str(default_path))
    db = Database(f"sqlite+aiosqlite:///{path}")
    await db.drop_all()
    await db.create_all()
    print(f"database: {db.url}")

    # create: no session given, so sqlrecord opens one, commits and closes it.
    kim = await Author.create(email="kim@example.com", name="Kim")
    print(f"created  {kim!r} at {kim.created_at:%H:%M:%S.%f} UTC")

    # fill + save: the design notes' sequence; the same row is updated.
    kim.fill(name="Kim Jaekyung", csrf_token="ignored")
    await kim.save(auto_commit=True)
    print(f"saved    {kim!r}, updated_at moved: {kim.updated_at > kim.created_at}")

    # update in one call
    await kim.update(name="J. Kim")
    print(f"updated  {kim!r}")

    # one unit of work: everything commits together, or nothing does
    async with db.transaction():
        author = await Author.get_or_fail(email="kim@example.com")
        await Book.create(title="Async Records", author=author)
        await Book.create(title="Savepoints in Practice", author=author)
    print(f"books    {[book.title for book in await Book.get(1, 2)]}")

    # bad input gets a typed error and writes nothing
    for attempt, values in [
        ("duplicate email", {"email": "kim@example.com"}),
        ("primary key", {"email": "new@example.com", "id": 99}),
        ("protected field", {"email": "new@example.com", "is_admin": True}),
    ]:
        try:
            await Author.create(**values)
        except (DuplicateKeyError, InvalidFieldError, ProtectedFieldError) as error:
            print(f"refused  {attempt}: {type(error).__name__}")

    again = await Author.get(kim.id)
    print(f"read     {again!r}; authors in table: {len(await Author.get(1, 2, 3))}")
    await db.dispose()


if __name__ == "__main__":
    asyncio.run(main())
