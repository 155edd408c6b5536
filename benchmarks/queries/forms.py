"""Each form of the benchmark, as a user of each library writes it: a ``prepare`` coroutine
(untimed: loads the objects a form starts from) that returns the timed call."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine
from tortoise.expressions import F as TortoiseF
from tortoise.functions import Count as TortoiseCount
from tortoise.functions import Sum as TortoiseSum
from tortoise.transactions import in_transaction

from sqlrecord import Count, Database, F, Sum

from ..targets import POOL_SIZE
from .tables import ORM, RECORD, Sizes, TAuthor, TBook, TCounter

__all__ = ["Form", "Timed", "orm_forms", "record_forms", "tortoise_forms"]

Timed = Callable[[], Awaitable[int]]
#: One form: (operation, contestant, label, prepare) where prepare returns the timed call.
Form = tuple[str, str, str, Callable[[], Awaitable[Timed]]]


def record_forms(database: Database, sizes: Sizes) -> list[Form]:
    counter, author, book = RECORD["Counter"], RECORD["Author"], RECORD["Book"]
    keys = list(range(1, sizes.counters + 1))

    async def query_f() -> Timed:
        async def run() -> int:
            for key in keys:
                await counter.filter_by(id=key).update(views=F("views") + 1)
            return len(keys)

        return run

    async def object_f() -> Timed:
        objects = await counter.filter_by(id__lte=sizes.counters).order_by("id").all()

        async def run() -> int:
            for obj in objects:
                await obj.update(views=F("views") + 1)
            return len(objects)

        return run

    async def load_save() -> Timed:
        async def run() -> int:
            for key in keys:
                obj = await counter.get(key)
                obj.views += 1
                await obj.save()
            return len(keys)

        return run

    async def bulk_update() -> Timed:
        objects = await counter.filter_by().order_by("id").all()
        for obj in objects:
            obj.views += 7

        async def run() -> int:
            return int(await counter.bulk_update(objects, ["views"]))

        return run

    async def save_loop() -> Timed:
        objects = await counter.filter_by().order_by("id").all()
        for obj in objects:
            obj.views += 7

        async def run() -> int:
            async with database.transaction(savepoints=False):
                for obj in objects:
                    await obj.save()
            return len(objects)

        return run

    async def annotate() -> Timed:
        async def run() -> int:
            for _ in range(sizes.reads):
                found = await author.annotate(n=Count("books")).all()
            return len(found)

        return run

    async def group_by() -> Timed:
        async def run() -> int:
            for _ in range(sizes.reads):
                grouped = book.group_by("author_id")
                found = await grouped.aggregate(n=Count("id"), total=Sum("pages"))
            return len(found)

        return run

    return [
        ("increment", "sqlrecord", "filter_by(id=k).update(views=F('views') + 1)", query_f),
        ("increment", "sqlrecord", "obj.update(views=F('views') + 1)", object_f),
        ("increment", "sqlrecord", "get, views += 1, save() (load-modify-save)", load_save),
        ("bulk_update", "sqlrecord", "Counter.bulk_update(objs, ['views'])", bulk_update),
        ("bulk_update", "sqlrecord", "save() per object in one transaction", save_loop),
        ("annotate", "sqlrecord", "Author.annotate(n=Count('books')).all()", annotate),
        ("group_by", "sqlrecord", "Book.group_by('author_id').aggregate(...)", group_by),
    ]


def orm_forms(url: str, sizes: Sizes) -> tuple[list[Form], Callable[[], Awaitable[None]]]:
    engine = create_async_engine(url, pool_size=POOL_SIZE, max_overflow=0)
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    counter, author, book = ORM["Counter"], ORM["Author"], ORM["Book"]
    keys = list(range(1, sizes.counters + 1))

    async def statement_update() -> Timed:
        async def run() -> int:
            for key in keys:
                async with sessions.begin() as session:
                    await session.execute(
                        update(counter).where(counter.id == key).values(views=counter.views + 1)
                    )
            return len(keys)

        return run

    async def load_flush() -> Timed:
        async def run() -> int:
            for key in keys:
                async with sessions.begin() as session:
                    obj = await session.get(counter, key)
                    obj.views += 1
            return len(keys)

        return run

    async def bulk_by_key() -> Timed:
        async with sessions() as session:
            objects = list((await session.scalars(select(counter).order_by(counter.id))).all())
        for obj in objects:
            obj.views += 7

        async def run() -> int:
            async with sessions.begin() as session:
                rows = [{"id": obj.id, "views": obj.views} for obj in objects]
                await session.execute(update(counter), rows)
            return len(objects)

        return run

    async def annotate() -> Timed:
        statement = select(author, func.count(book.id)).outerjoin(author.books).group_by(author.id)

        async def run() -> int:
            for _ in range(sizes.reads):
                async with sessions() as session:
                    rows = (await session.execute(statement)).all()
            return len(rows)

        return run

    async def group_by() -> Timed:
        statement = select(
            book.author_id, func.count(book.id).label("n"), func.sum(book.pages).label("total")
        ).group_by(book.author_id)

        async def run() -> int:
            for _ in range(sizes.reads):
                async with sessions() as session:
                    rows = (await session.execute(statement)).mappings().all()
            return len(rows)

        return run

    forms: list[Form] = [
        ("increment", "orm", "update(Counter).values(views=Counter.views + 1)", statement_update),
        ("increment", "orm", "session.get, views += 1, commit (load-modify-flush)", load_flush),
        ("bulk_update", "orm", "session.execute(update(Counter), rows)", bulk_by_key),
        ("annotate", "orm", "select(Author, count).outerjoin(books).group_by(id)", annotate),
        ("group_by", "orm", "select(author_id, count, sum).group_by(author_id)", group_by),
    ]
    return forms, engine.dispose


def tortoise_forms(sizes: Sizes) -> list[Form]:
    keys = list(range(1, sizes.counters + 1))

    async def query_f() -> Timed:
        async def run() -> int:
            for key in keys:
                await TCounter.filter(id=key).update(views=TortoiseF("views") + 1)
            return len(keys)

        return run

    async def load_save() -> Timed:
        async def run() -> int:
            for key in keys:
                obj = await TCounter.get(id=key)
                obj.views += 1
                await obj.save()
            return len(keys)

        return run

    async def bulk_update() -> Timed:
        objects = await TCounter.all().order_by("id")
        for obj in objects:
            obj.views += 7

        async def run() -> int:
            async with in_transaction():
                await TCounter.bulk_update(objects, fields=["views"])
            return len(objects)

        return run

    async def annotate() -> Timed:
        async def run() -> int:
            for _ in range(sizes.reads):
                found = await TAuthor.annotate(n=TortoiseCount("books")).all()
            return len(found)

        return run

    async def group_by() -> Timed:
        async def run() -> int:
            for _ in range(sizes.reads):
                query = (
                    TBook.annotate(n=TortoiseCount("id"), total=TortoiseSum("pages"))
                    .group_by("author_id")
                    .values("author_id", "n", "total")
                )
                found = await query
            return len(found)

        return run

    return [
        ("increment", "tortoise", "filter(id=k).update(views=F('views') + 1)", query_f),
        ("increment", "tortoise", "get, views += 1, save() (load-modify-save)", load_save),
        ("bulk_update", "tortoise", "Counter.bulk_update(objs, fields=['views'])", bulk_update),
        ("annotate", "tortoise", "Author.annotate(n=Count('books')).all()", annotate),
        ("group_by", "tortoise", "annotate(...).group_by('author_id').values(...)", group_by),
    ]
