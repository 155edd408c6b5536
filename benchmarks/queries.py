"""Issue 20's query forms side by side: atomic F updates, ``bulk_update``, annotations.

``./scripts/bench --queries --db sqlite|postgres|mysql [--rounds 3]`` runs, in one process,
each form as a user of each library writes it with that library's defaults:

- **increment**: 300 single-row ``views + 1`` by key, each its own call. sqlrecord's
  ``filter_by(id=k).update(views=F("views") + 1)`` and ``obj.update(views=F("views") + 1)``
  against its own load-modify-save (``get``, ``+= 1``, ``save``: two statements and a race),
  the SQLAlchemy ORM's ``update(...).values(views=Counter.views + 1)`` and load-modify-flush,
  and Tortoise's ``filter(id=k).update(views=F("views") + 1)``.
- **bulk_update**: new values on 1,000 loaded objects written back. ``Model.bulk_update(objs,
  ["views"])`` against a loop of ``save()`` in one transaction, the ORM's bulk UPDATE by
  primary key (``session.execute(update(Counter), rows)``) and Tortoise's ``bulk_update``.
- **annotate**: 300 authors, each with its number of books (1,500 books).
  ``Author.annotate(n=Count("books")).all()`` against the hand-written ORM query (an outer
  join grouped by author) and Tortoise's ``annotate(n=Count("books"))``.
- **group_by**: books per author, count and page total. ``Book.group_by("author_id")
  .aggregate(...)`` against the ORM's ``select(...).group_by(...)`` and Tortoise's
  ``annotate(...).group_by(...).values(...)``.

Each row is the median of ``--rounds`` rounds (the rows are reset before every round); the
table gives milliseconds per call and sqlrecord's time divided by the ORM's and Tortoise's.
Results go to ``docs/benchmarks/queries-<db>.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy
import tortoise
from sqlalchemy import ForeignKey, String, func, select, update
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from tortoise import Tortoise, fields
from tortoise.expressions import F as TortoiseF
from tortoise.functions import Count as TortoiseCount
from tortoise.functions import Sum as TortoiseSum
from tortoise.models import Model as TortoiseModel
from tortoise.transactions import in_transaction

import sqlrecord
from sqlrecord import Count, CRUDMixin, Database, F, Sum

from .targets import POOL_SIZE, Target, contestant_target, target

__all__ = ["main"]

CONTESTANTS = ("sqlrecord", "orm", "tortoise")


@dataclass(frozen=True)
class Sizes:
    """How many rows each form works on."""

    counters: int = 300  # increment: single-row calls
    bulk: int = 1000  # bulk_update: objects written back (also the counter table's rows)
    authors: int = 300  # annotate, group_by: authors, each with books_each books
    books_each: int = 5


QUICK = Sizes()
#: --smoke: a few rows, to keep the harness working (CI).
SMOKE = Sizes(counters=10, bulk=20, authors=10, books_each=2)
ROOT = Path(__file__).resolve().parents[1]


def _declare(base: Any) -> dict[str, Any]:
    class Counter(base):  # type: ignore[misc,valid-type]
        __tablename__ = "bench_q_counter"
        id: Mapped[int] = mapped_column(primary_key=True)
        name: Mapped[str] = mapped_column(String(40))
        views: Mapped[int]

    class Author(base):  # type: ignore[misc,valid-type]
        __tablename__ = "bench_q_author"
        id: Mapped[int] = mapped_column(primary_key=True)
        name: Mapped[str] = mapped_column(String(40))
        books: Mapped[list[Book]] = relationship(back_populates="author")

    class Book(base):  # type: ignore[misc,valid-type]
        __tablename__ = "bench_q_book"
        id: Mapped[int] = mapped_column(primary_key=True)
        author_id: Mapped[int] = mapped_column(ForeignKey("bench_q_author.id"), index=True)
        pages: Mapped[int]
        author: Mapped[Author] = relationship(back_populates="books")

    return {"Counter": Counter, "Author": Author, "Book": Book}


class _OrmBase(DeclarativeBase):
    pass


class _Declarative(DeclarativeBase):
    pass


class _RecordBase(CRUDMixin, _Declarative):
    __abstract__ = True


ORM = _declare(_OrmBase)
RECORD = _declare(_RecordBase)


class TCounter(TortoiseModel):
    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=40)
    views = fields.IntField()

    class Meta:
        table = "bench_q_counter"


class TAuthor(TortoiseModel):
    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=40)
    books: fields.ReverseRelation[TBook]

    class Meta:
        table = "bench_q_author"


class TBook(TortoiseModel):
    id = fields.IntField(primary_key=True)
    author: fields.ForeignKeyRelation[TAuthor] = fields.ForeignKeyField(
        "models.TAuthor", related_name="books"
    )
    pages = fields.IntField()

    class Meta:
        table = "bench_q_book"


async def _reset(url: str, sizes: Sizes) -> None:
    """The three tables, made afresh and filled, through a Core engine of its own."""
    engine = create_async_engine(url)
    metadata = _OrmBase.metadata
    try:
        async with engine.begin() as connection:
            await connection.run_sync(metadata.drop_all)
            await connection.run_sync(metadata.create_all)
            tables = metadata.tables
            await connection.execute(
                tables["bench_q_counter"].insert(),
                [{"id": n, "name": f"c{n}", "views": 0} for n in range(1, sizes.bulk + 1)],
            )
            await connection.execute(
                tables["bench_q_author"].insert(),
                [{"id": n, "name": f"a{n}"} for n in range(1, sizes.authors + 1)],
            )
            await connection.execute(
                tables["bench_q_book"].insert(),
                [
                    {"author_id": 1 + n % sizes.authors, "pages": 100 + n % 37}
                    for n in range(sizes.authors * sizes.books_each)
                ],
            )
    finally:
        await engine.dispose()


Timed = Callable[[], Awaitable[int]]
#: One form: (operation, contestant, label, prepare) where prepare returns the timed call.
Form = tuple[str, str, str, Callable[[], Awaitable[Timed]]]


def _record_forms(database: Database, sizes: Sizes) -> list[Form]:
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
            return len(await author.annotate(n=Count("books")).all())

        return run

    async def group_by() -> Timed:
        async def run() -> int:
            grouped = book.group_by("author_id")
            return len(await grouped.aggregate(n=Count("id"), total=Sum("pages")))

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


def _orm_forms(url: str, sizes: Sizes) -> tuple[list[Form], Callable[[], Awaitable[None]]]:
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
        statement = (
            select(author, func.count(book.id))
            .outerjoin(author.books)
            .group_by(author.id)
            .order_by(author.id)
        )

        async def run() -> int:
            async with sessions() as session:
                rows = (await session.execute(statement)).all()
            return len(rows)

        return run

    async def group_by() -> Timed:
        statement = select(
            book.author_id, func.count(book.id).label("n"), func.sum(book.pages).label("total")
        ).group_by(book.author_id)

        async def run() -> int:
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


def _tortoise_forms(sizes: Sizes) -> list[Form]:
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
            return len(await TAuthor.annotate(n=TortoiseCount("books")).all())

        return run

    async def group_by() -> Timed:
        async def run() -> int:
            query = (
                TBook.annotate(n=TortoiseCount("id"), total=TortoiseSum("pages"))
                .group_by("author_id")
                .values("author_id", "n", "total")
            )
            return len(await query)

        return run

    return [
        ("increment", "tortoise", "filter(id=k).update(views=F('views') + 1)", query_f),
        ("increment", "tortoise", "get, views += 1, save() (load-modify-save)", load_save),
        ("bulk_update", "tortoise", "Counter.bulk_update(objs, fields=['views'])", bulk_update),
        ("annotate", "tortoise", "Author.annotate(n=Count('books')).all()", annotate),
        ("group_by", "tortoise", "annotate(...).group_by('author_id').values(...)", group_by),
    ]


async def _measure(url: str, form: Form, rounds: int, sizes: Sizes) -> dict[str, Any]:
    operation, contestant, label, prepare = form
    times: list[float] = []
    done = 0
    for _ in range(rounds):
        await _reset(url, sizes)
        timed = await prepare()
        started = time.perf_counter()
        done = await timed()
        times.append(time.perf_counter() - started)
    seconds = statistics.median(times)
    calls = sizes.counters if operation == "increment" else 1
    return {
        "operation": operation,
        "contestant": contestant,
        "form": label,
        "rows": done,
        "seconds": seconds,
        "ms_per_call": 1000 * seconds / calls,
        "rounds": [round(t, 6) for t in times],
    }


async def _run(where: Target, rounds: int, chosen: set[str], sizes: Sizes) -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = []
    if "sqlrecord" in chosen:
        results += await _run_sqlrecord(where, rounds, sizes)
    if "orm" in chosen:
        results += await _run_orm(where, rounds, sizes)
    if "tortoise" in chosen:
        results += await _run_tortoise(where, rounds, sizes)
    return results


async def _run_sqlrecord(where: Target, rounds: int, sizes: Sizes) -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = []
    place = contestant_target(where, "q-sqlrecord")
    database = Database(
        place.sqlalchemy_url, engine_options={"pool_size": POOL_SIZE, "max_overflow": 0}
    )
    try:
        for form in _record_forms(database, sizes):
            results.append(await _measure(place.sqlalchemy_url, form, rounds, sizes))
            print(_line(results[-1]), flush=True)
    finally:
        await database.dispose()
    return results


async def _run_orm(where: Target, rounds: int, sizes: Sizes) -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = []
    place = contestant_target(where, "q-orm")
    forms, dispose = _orm_forms(place.sqlalchemy_url, sizes)
    try:
        for form in forms:
            results.append(await _measure(place.sqlalchemy_url, form, rounds, sizes))
            print(_line(results[-1]), flush=True)
    finally:
        await dispose()
    return results


async def _run_tortoise(where: Target, rounds: int, sizes: Sizes) -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = []
    place = contestant_target(where, "q-tortoise")
    await _reset(place.sqlalchemy_url, sizes)
    await Tortoise.init(db_url=place.tortoise_url, modules={"models": [__name__]})
    try:
        for form in _tortoise_forms(sizes):
            results.append(await _measure(place.sqlalchemy_url, form, rounds, sizes))
            print(_line(results[-1]), flush=True)
    finally:
        await Tortoise.close_connections()
    return results


def _line(result: dict[str, Any]) -> str:
    return (
        f"{result['operation']:<12} {result['contestant']:<10} "
        f"{result['ms_per_call']:9.3f} ms  {result['form']}"
    )


def _table(where: str, results: list[dict[str, Any]]) -> str:
    """The markdown table: each form's time, and the time of sqlrecord's first form of the
    operation divided by this form's (above 1: sqlrecord's form is slower)."""
    first: dict[tuple[str, str], dict[str, Any]] = {}
    for result in results:
        first.setdefault((result["operation"], result["contestant"]), result)
    if not any(contestant == "sqlrecord" for _, contestant in first):
        return "(sqlrecord was not run: no ratios)\n"
    lines = [
        f"Issue 20's query forms on {where} (median of the rounds; ms per call: per row "
        "for increment, per whole call otherwise).",
        "",
        "| operation | contestant | form | ms per call | sqlrecord's time ÷ this form's |",
        "|---|---|---|---:|---:|",
    ]
    for result in results:
        mine = first[(result["operation"], "sqlrecord")]["seconds"]
        ratio = mine / result["seconds"] if result["seconds"] else float("nan")
        lines.append(
            f"| {result['operation']} | {result['contestant']} | `{result['form']}` "
            f"| {result['ms_per_call']:.3f} | {ratio:.2f} |"
        )
    return "\n".join(lines) + "\n"


async def _main(args: argparse.Namespace) -> None:
    where = target(args.db)
    print(f"Query forms on {where.name}, {args.rounds} rounds", flush=True)
    sizes = SMOKE if args.smoke else QUICK
    results = await _run(where, args.rounds, set(args.contestants), sizes)
    versions = {
        "sqlrecord": sqlrecord.__version__,
        "sqlalchemy": sqlalchemy.__version__,
        "tortoise-orm": tortoise.__version__,
    }
    out = args.out or ROOT / ("var/bench/smoke" if args.smoke else "docs/benchmarks")
    out.mkdir(parents=True, exist_ok=True)
    table = _table(where.name, results)
    (out / f"queries-{where.name}.json").write_text(
        json.dumps({"versions": versions, "results": results}, indent=2) + "\n"
    )
    (out / f"queries-{where.name}.md").write_text(table)
    print(table)


def main() -> None:
    """Run the query-form benchmark (see the module docstring)."""
    parser = argparse.ArgumentParser(prog="benchmarks.queries", description=__doc__)
    parser.add_argument("--db", choices=["sqlite", "postgres", "mysql"], default="sqlite")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--smoke", action="store_true", help="a few rows: keeps it working")
    parser.add_argument(
        "--contestants", nargs="*", default=list(CONTESTANTS), choices=list(CONTESTANTS)
    )
    parser.add_argument("--out", type=Path, help="output folder (default: docs/benchmarks)")
    asyncio.run(_main(parser.parse_args()))


if __name__ == "__main__":
    main()
