"""Idiomatic SQLAlchemy ORM (async), written as an expert would.

``expire_on_commit=False``; ``session.get`` for primary keys; INSERT of a list of dicts for
bulk; UPDATE and DELETE by primary key instead of load-modify-flush; ``stream_scalars`` with
``yield_per`` for large reads.

The defaults row runs the same code on ``create_async_engine(url)`` and
``async_sessionmaker(engine)``, SQLAlchemy's own defaults: a pool of 5 with 10 more on
demand, and ``expire_on_commit=True``. No method reads an object after its session
committed, so nothing here loads an expired attribute again. Its URL names the driver that
sqlrecord's defaults row takes (SQLAlchemy has no asyncio default for MySQL), so that the
two rows differ by library only.
"""

from __future__ import annotations

from typing import Any, ClassVar

import sqlalchemy
from sqlalchemy import delete, exists, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, selectinload

import sqlrecord

from ..targets import POOL_SIZE, Target
from ._dialect import upsert_statement
from ._models import declare
from .base import Contestant

__all__ = ["OrmContestant"]


class _Base(DeclarativeBase):
    pass


async def _with_sqlrecords_driver(url: str) -> str:
    """``url`` with the driver sqlrecord's ``Database`` gives a URL that names none."""
    database = sqlrecord.Database(url, default=False)  # connects nothing
    picked = database.url.render_as_string(hide_password=False)
    await database.dispose()
    return picked


MODELS = declare(_Base)
_COLUMNS = ("timestamp", "level", "text")


class OrmContestant(Contestant):
    """SQLAlchemy ORM over AsyncSession."""

    name: ClassVar[str] = "orm"
    label: ClassVar[str] = "SQLAlchemy ORM"

    async def start(self, target: Target) -> None:
        """An engine (on the row's driver) with the shared pool size and a session factory;
        the defaults row's with nothing set."""
        url = target.url_for(self.other_driver)
        self.engine: AsyncEngine
        if self.at_defaults:
            self.engine = create_async_engine(await _with_sqlrecords_driver(target.driverless_url))
            self.sessions = async_sessionmaker(self.engine)
        else:
            self.engine = create_async_engine(url, pool_size=POOL_SIZE, max_overflow=0)
            self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)

    async def stop(self) -> None:
        """Dispose of the engine."""
        await self.engine.dispose()

    def versions(self) -> dict[str, str]:
        """SQLAlchemy's version."""
        return {"sqlalchemy": sqlalchemy.__version__}

    async def insert_one(self, model: str, row: dict[str, Any]) -> None:
        """A: add one object and commit."""
        async with self.sessions() as session:
            session.add(MODELS[model](**row))
            await session.commit()

    async def insert_batch(self, model: str, rows: list[dict[str, Any]]) -> None:
        """B: add every object in one transaction (the unit of work batches the INSERTs)."""
        cls = MODELS[model]
        async with self.sessions.begin() as session:
            for row in rows:
                session.add(cls(**row))

    async def insert_each(self, model: str, rows: list[dict[str, Any]]) -> None:
        """B-each: add and flush each object in one transaction (its id is set at the flush)."""
        cls = MODELS[model]
        async with self.sessions.begin() as session:
            for row in rows:
                session.add(cls(**row))
                await session.flush()

    async def bulk_insert(self, model: str, rows: list[dict[str, Any]]) -> None:
        """C: ORM bulk INSERT of a list of dicts."""
        async with self.sessions.begin() as session:
            await session.execute(insert(MODELS[model]), rows)

    async def filter_many(self, model: str, upto: int) -> int:
        """D: objects with id <= upto."""
        cls = MODELS[model]
        async with self.sessions() as session:
            return len((await session.scalars(select(cls).where(cls.id <= upto))).all())

    async def filter_page(self, model: str, item: tuple[int, int]) -> int:
        """E: 20 objects of one level, by offset."""
        cls, (level, offset) = MODELS[model], item
        statement = select(cls).where(cls.level == level).order_by(cls.id).limit(20).offset(offset)
        async with self.sessions() as session:
            return len((await session.scalars(statement)).all())

    async def get(self, model: str, pk: int) -> int:
        """F: session.get in a fresh session."""
        async with self.sessions() as session:
            return int(await session.get(MODELS[model], pk) is not None)

    async def get_hit(self, model: str, pks: list[int]) -> int:
        """session.get repeatedly in one session: identity-map hits after the first."""
        cls, held = MODELS[model], []
        async with self.sessions() as session:
            for pk in pks:
                # Held, as an application holds what it loaded: the identity map keeps only
                # weak references, and a dropped object is fetched again.
                held.append(await session.get(cls, pk))
        return sum(obj is not None for obj in held)

    async def values_dicts(self, model: str, upto: int) -> int:
        """G: three columns as mappings."""
        cls = MODELS[model]
        statement = select(*(getattr(cls, name) for name in _COLUMNS)).where(cls.id <= upto)
        async with self.sessions() as session:
            return len((await session.execute(statement)).mappings().all())

    async def values_tuples(self, model: str, upto: int) -> int:
        """H: three columns as rows (tuples)."""
        cls = MODELS[model]
        statement = select(*(getattr(cls, name) for name in _COLUMNS)).where(cls.id <= upto)
        async with self.sessions() as session:
            return len((await session.execute(statement)).all())

    async def update_whole(self, model: str, item: tuple[int, dict[str, Any]]) -> None:
        """I: UPDATE every column by primary key, committed."""
        cls, (pk, row) = MODELS[model], item
        async with self.sessions.begin() as session:
            await session.execute(update(cls).where(cls.id == pk).values(**row))

    async def update_field(self, model: str, item: tuple[int, int]) -> None:
        """J: UPDATE one column by primary key, committed."""
        cls, (pk, level) = MODELS[model], item
        async with self.sessions.begin() as session:
            await session.execute(update(cls).where(cls.id == pk).values(level=level))

    async def delete(self, model: str, pk: int) -> None:
        """K: DELETE by primary key, committed."""
        cls = MODELS[model]
        async with self.sessions.begin() as session:
            await session.execute(delete(cls).where(cls.id == pk))

    async def update_by_key(self, model: str, item: tuple[int, int]) -> None:
        """J-query: the same UPDATE by primary key as J (a statement already)."""
        await self.update_field(model, item)

    async def delete_by_key(self, model: str, pk: int) -> None:
        """K-query: the same DELETE by primary key as K (a statement already)."""
        await self.delete(model, pk)

    async def eager(self, model: str, parents: int) -> int:
        """Parents with their children (selectinload)."""
        parent = MODELS["parent"]
        statement = select(parent).options(selectinload(parent.children))
        async with self.sessions() as session:
            loaded = (await session.scalars(statement)).all()
        return len(loaded) + sum(len(p.children) for p in loaded)

    async def upsert(self, model: str, rows: list[dict[str, Any]]) -> None:
        """INSERT … ON CONFLICT DO UPDATE with the rows as parameters."""
        statement = upsert_statement(self.engine.dialect.name, MODELS[model], ["level", "text"])
        async with self.sessions.begin() as session:
            await session.execute(statement, rows)

    async def count_exists(self, model: str, level: int) -> int:
        """A count and an EXISTS for one level, in one session."""
        cls = MODELS[model]
        async with self.sessions() as session:
            total = await session.scalar(select(func.count()).where(cls.level == level))
            await session.scalar(select(exists().where(cls.level == level)))
        return int(total or 0)

    async def page_offset(self, model: str, page: int) -> int:
        """A count plus one page of 20 by offset."""
        cls = MODELS[model]
        async with self.sessions() as session:
            await session.scalar(select(func.count()).select_from(cls))
            statement = select(cls).order_by(cls.id).limit(20).offset((page - 1) * 20)
            return len((await session.scalars(statement)).all())

    async def page_cursor(self, model: str, pages: int) -> int:
        """Walk ``pages`` keyset pages of 20 (id > last, one extra row to see a next page)."""
        cls, last, seen = MODELS[model], 0, 0
        for _ in range(pages):  # one session per page, as one request per page would
            statement = select(cls).where(cls.id > last).order_by(cls.id).limit(21)
            async with self.sessions() as session:
                rows = (await session.scalars(statement)).all()[:20]
            seen += len(rows)
            last = rows[-1].id
        return seen

    async def stream(self, model: str, upto: int) -> int:
        """Iterate objects with ``yield_per`` in flat memory."""
        cls, seen = MODELS[model], 0
        statement = select(cls).where(cls.id <= upto).execution_options(yield_per=1000)
        async with self.sessions() as session:
            result = await session.stream_scalars(statement)
            async for _row in result:
                seen += 1
        return seen
