"""Reads: query terminals, lookups, relationship paths, inheritance, loading, to_dict.

Each is a sqlrecord query next to the ``select()`` a team would write for it."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from .harness import Op, Side
from .models import Animal, Dog, Item, Kid, Parent, Post, Tag, Ticket, Vehicle

OrmRead = Callable[[AsyncSession], Any]


# Reads whose session hooks (loads, lifecycle) are worth watching too; the others
# run with engine events only, which is where a read's fast path shows.
WATCHED_READS = {
    "all[Item]",
    "first[Ticket]",
    "stream[Item]",
    "cursor[Item]",
    "load[Parent]",
    "paginate[Item]",
    "count[Item]",
    "values[Item]",
}


def read_op(name: str, rec: Callable[[Side], Any], orm: OrmRead, *, calls: int = 1) -> Op:
    """An Op from a sqlrecord coroutine and a plain coroutine that gets the session
    (``calls > 1``: the plain coroutine gets the side and opens a session per call)."""

    async def orm_side(side: Side) -> Any:
        if calls > 1:
            return await orm(side)
        async with side.call(read=True) as s:
            return await orm(s)

    watches = ("engine", "session") if name in WATCHED_READS else ("engine",)
    return Op(name, rec, orm_side, watches=watches)


def q(side: Side, query: Any) -> Any:
    return query.with_session(side.s)


async def objects(s: AsyncSession, statement: Select[Any]) -> list[Any]:
    return list((await s.scalars(statement)).all())


async def scalar(s: AsyncSession, statement: Select[Any]) -> Any:
    return (await s.execute(statement)).scalar()


async def exists(s: AsyncSession, statement: Select[Any]) -> bool:
    """Whether the statement returns a row (its own LIMIT/OFFSET included)."""
    return (await s.execute(statement)).first() is not None


NEW = Item.state == "new"
BY_EMAIL = select(Item).order_by(Item.email)


async def rec_stream(side: Side) -> list[Any]:
    stream = q(side, Item.order_by("email")).stream(batch_size=2)
    async with contextlib.aclosing(stream) as rows:
        return [row async for row in rows]


async def orm_stream(s: AsyncSession) -> list[Any]:
    result = await s.stream_scalars(BY_EMAIL.execution_options(yield_per=2))
    return [row async for row in result]


async def rec_cursor(side: Side) -> list[Any]:
    first = await q(side, Item.order_by("-hits")).cursor(limit=2)
    rest = await q(side, Item.order_by("-hits")).cursor(limit=2, after=first.next_cursor)
    return [first, rest]


async def orm_cursor(side: Side) -> list[Any]:
    order = (Item.hits.desc(), Item.id)
    async with side.call(read=True) as s:  # one session per page, as each call has
        first = await objects(s, select(Item).order_by(*order).limit(3))
    # Each page keeps its own rows only, as two calls do: the row read past the page
    # is let go before the next page reads it again.
    first_page = {"items": first[:2], "has_next": len(first) > 2, "next": len(first) > 2}
    last = first[1]
    del first
    after = (Item.hits < last.hits) | ((Item.hits == last.hits) & (Item.id > last.id))
    async with side.call(read=True) as s:
        rest = await objects(s, select(Item).where(after).order_by(*order).limit(3))
    return [
        first_page,
        {"items": rest[:2], "has_next": len(rest) > 2, "next": len(rest) > 2},
    ]


async def orm_paginate(s: AsyncSession) -> dict[str, Any]:
    total = await scalar(s, select(func.count()).select_from(Item))
    items = await objects(s, BY_EMAIL.offset(2).limit(2))
    return {"items": items, "total": total, "page": 2, "per_page": 2}


async def orm_one(s: AsyncSession, statement: Select[Any]) -> Any:
    return (await s.scalars(statement)).one()


async def orm_values(s: AsyncSession, *columns: Any) -> list[dict[str, Any]]:
    result = await s.execute(select(*columns).order_by(Item.email))
    return [dict(row) for row in result.mappings()]


async def orm_values_list(s: AsyncSession, *columns: Any) -> list[tuple[Any, ...]]:
    return [tuple(row) for row in await s.execute(select(*columns).order_by(Item.email))]


async def rec_aggregates(side: Side) -> dict[str, Any]:
    query = q(side, Item.filter_by())
    return {
        "sum": await query.sum("hits"),
        "min": await query.min("price"),
        "max": await query.max("stamped_at"),
        "avg": await query.avg("hits"),
        "avg_price": await query.avg("price"),
    }


async def orm_aggregates(side: Side) -> dict[str, Any]:
    found = {}
    for name, expression in (
        ("sum", func.sum(Item.hits)),
        ("min", func.min(Item.price)),
        ("max", func.max(Item.stamped_at)),
        ("avg", func.avg(Item.hits)),
        ("avg_price", func.avg(Item.price)),
    ):
        async with side.call(read=True) as s:  # a session per call, as each call has
            found[name] = await scalar(s, select(expression))
    return found


async def rec_to_dict(side: Side) -> list[Any]:
    found = [
        await q(side, Item.filter_by(email="kim@x.com")).one(),
        await q(side, Ticket.filter_by(title="Broken printer")).one(),
    ]
    return [obj.to_dict() for obj in found]


async def orm_to_dict(side: Side) -> list[Any]:
    found = []
    for statement in (
        select(Item).filter_by(email="kim@x.com"),
        select(Ticket).filter_by(title="Broken printer"),
    ):
        async with side.call(read=True) as s:
            found.append(await orm_one(s, statement))
    return [
        {
            prop.key: getattr(obj, prop.key)
            for prop in obj.__mapper__.column_attrs
            if prop.key in obj.__dict__
        }
        for obj in found
    ]


def dog_count(s: AsyncSession) -> Any:
    return scalar(s, select(func.count()).select_from(select(Dog).subquery()))


QUERY_OPS = [
    read_op(
        "all[Item]",
        lambda side: q(side, Item.order_by("email")).all(),
        lambda s: objects(s, BY_EMAIL),
    ),
    read_op(
        "first[Item]",
        lambda side: q(side, Item.filter_by(state="new").order_by("-hits")).first(),
        lambda s: scalar(s, select(Item).where(NEW).order_by(Item.hits.desc()).limit(1)),
    ),
    read_op(
        "one[Item]",
        lambda side: q(side, Item.filter_by(email="lee@x.com")).one(),
        lambda s: orm_one(s, select(Item).filter_by(email="lee@x.com")),
    ),
    read_op(
        "one_missing[Item]",
        lambda side: q(side, Item.filter_by(email="no@x.com")).one(),
        lambda s: orm_one(s, select(Item).filter_by(email="no@x.com")),
    ),
    read_op(
        "one_multiple[Item]",
        lambda side: q(side, Item.filter_by(state="new")).one(),
        lambda s: orm_one(s, select(Item).where(NEW)),
    ),
    read_op(
        "one_or_none_missing[Item]",
        lambda side: q(side, Item.filter_by(email="no@x.com")).one_or_none(),
        lambda s: scalar(s, select(Item).filter_by(email="no@x.com")),
    ),
    read_op(
        "count[Item]",
        lambda side: q(side, Item.filter_by(state="new")).count(),
        lambda s: scalar(s, select(func.count()).select_from(Item).where(NEW)),
    ),
    read_op(
        "count_limited[Item]",
        lambda side: q(side, Item.order_by("email").limit(2)).count(),
        lambda s: scalar(
            s,
            select(func.count()).select_from(
                select(Item.id).order_by(Item.email).limit(2).subquery()
            ),
        ),
    ),
    read_op("count[Dog]", lambda side: q(side, Dog.filter_by()).count(), dog_count),
    read_op(
        "exists[Item]",
        lambda side: q(side, Item.filter_by(state="new")).exists(),
        lambda s: exists(s, select(Item.id).where(NEW)),
    ),
    read_op(
        "exists_offset[Item]",
        lambda side: q(side, Item.filter_by(state="new").order_by("email").offset(2)).exists(),
        lambda s: exists(s, select(Item.id).where(NEW).order_by(Item.email).offset(2)),
    ),
    read_op(
        "exists_limit_zero[Item]",
        lambda side: q(side, Item.filter_by().limit(0)).exists(),
        lambda s: exists(s, select(Item.id).limit(0)),
    ),
    read_op(
        "values[Item]",
        lambda side: q(side, Item.order_by("email")).values("email", "code", "price"),
        lambda s: orm_values(s, Item.email, Item.code, Item.price),
    ),
    read_op(
        "values_list[Item]",
        lambda side: q(side, Item.order_by("email")).values_list("state", "stamped_at"),
        lambda s: orm_values_list(s, Item.state, Item.stamped_at),
    ),
    read_op(
        "values_list_flat[Item]",
        lambda side: q(side, Item.order_by("email")).values_list("code", flat=True),
        lambda s: _flat(s, select(Item.code).order_by(Item.email)),
    ),
    read_op(
        "values_list_flat[Dog]",
        lambda side: q(side, Dog.order_by("name")).values_list("name", flat=True),
        lambda s: _flat(s, select(Dog.name).order_by(Dog.name)),
    ),
    read_op("aggregates[Item]", rec_aggregates, orm_aggregates, calls=5),
    read_op(
        "paginate[Item]", lambda side: q(side, Item.order_by("email")).paginate(2, 2), orm_paginate
    ),
    read_op("cursor[Item]", rec_cursor, orm_cursor, calls=2),
    read_op("stream[Item]", rec_stream, orm_stream),
    read_op(
        "icontains[Item]",
        lambda side: q(side, Item.filter_by(email__icontains="KI")).all(),
        lambda s: objects(s, select(Item).where(Item.email.icontains("KI"))),
    ),
    read_op(
        "in[Item]",
        lambda side: q(side, Item.filter_by(state__in=["paid", "x"])).all(),
        lambda s: objects(s, select(Item).where(Item.state.in_(["paid", "x"]))),
    ),
    read_op(
        "gt[Item]",
        lambda side: q(side, Item.filter_by(hits__gt=2).order_by("hits")).all(),
        lambda s: objects(s, select(Item).where(Item.hits > 2).order_by(Item.hits)),
    ),
    read_op(
        "hybrid[Item]",
        lambda side: q(side, Item.filter_by(label="new:kim@x.com")).all(),
        lambda s: objects(s, select(Item).where(Item.label == "new:kim@x.com")),
    ),
    read_op(
        "path[Parent]",
        lambda side: q(side, Parent.filter_by(kids__name="k3")).all(),
        lambda s: objects(s, select(Parent).where(Parent.kids.any(Kid.name == "k3"))),
    ),
    read_op(
        "path[Post]",
        lambda side: q(side, Post.filter_by(tags__name="b").order_by("title")).all(),
        lambda s: objects(
            s,
            select(Post)
            .where(Post.tags.any(Tag.name == "b"), Post.deleted_at.is_(None))
            .order_by(Post.title),
        ),
    ),
    read_op(
        "load[Parent]",
        lambda side: q(side, Parent.order_by("name").load("kids")).all(),
        lambda s: objects(
            s, select(Parent).order_by(Parent.name).options(selectinload(Parent.kids))
        ),
    ),
    read_op(
        "all[Animal]",
        lambda side: q(side, Animal.order_by("name")).all(),
        lambda s: objects(s, select(Animal).order_by(Animal.name)),
    ),
    read_op(
        "all[Dog]",
        lambda side: q(side, Dog.order_by("name")).all(),
        lambda s: objects(s, select(Dog).order_by(Dog.name)),
    ),
    read_op(
        "all[Vehicle]",
        lambda side: q(side, Vehicle.order_by("plate")).all(),
        lambda s: objects(s, select(Vehicle).order_by(Vehicle.plate)),
    ),
    read_op(
        "first[Ticket]",
        lambda side: q(side, Ticket.order_by("title")).first(),
        lambda s: scalar(s, select(Ticket).order_by(Ticket.title).limit(1)),
    ),
    read_op("to_dict[Item,Ticket]", rec_to_dict, orm_to_dict, calls=2),
]


async def _flat(s: AsyncSession, statement: Select[Any]) -> list[Any]:
    return list((await s.scalars(statement)).all())
