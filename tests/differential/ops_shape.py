"""The shape of a query's rows: ``only()``/``defer()`` (and saving what they loaded),
``distinct()`` and joined collections, ``only_deleted()``.

Each is the sqlrecord call next to what a team writes by hand: ``load_only(...)``/
``defer(...)`` options, a JOIN through the collection read with ``.unique()``, the
``deleted_at IS NOT NULL`` condition."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import defer, joinedload, load_only

from sqlrecord.types import utc_now

from .harness import Op, Side
from .models import Account, Animal, Item, Parent, Post, Tag, Ticket, post_tags
from .ops_crud import orm_flush
from .ops_query import objects, q, read_op


async def unique_objects(s: AsyncSession, statement: Any) -> list[Any]:
    return list((await s.scalars(statement)).unique().all())


# -- saving what only() loaded -------------------------------------------------


def only_save_op(
    model: Any, lookup: dict[str, Any], loaded: tuple[Any, ...], change: dict[str, Any]
) -> Op:
    """Load one row with only ``loaded`` (attributes), change it, save it: sqlrecord's
    ``only(...)`` next to ``load_only(...)`` (which the team gives the version column too)."""
    names = [attribute.key for attribute in loaded]

    async def rec(side: Side) -> Any:
        obj = await q(side, model.filter_by(**lookup).only(*names)).one()
        for name, value in change.items():
            setattr(obj, name, value)
        return await obj.save(session=side.s)

    async def orm(side: Side) -> Any:
        version = getattr(model, "version", None)
        columns = (*loaded, version) if version is not None else loaded
        statement = select(model).filter_by(**lookup).options(load_only(*columns))
        async with side.call(read=True) as s:
            obj = (await s.scalars(statement)).one()
        for name, value in change.items():
            setattr(obj, name, value)
        return await orm_flush(side, obj)

    return Op(f"only_save[{model.__name__}]", rec, orm)


# -- the soft-deleted rows alone -------------------------------------------------------


async def rec_soft_delete_bye(side: Side) -> None:
    await q(side, Post.filter_by(title="bye")).delete()


async def orm_soft_delete_bye(side: Side) -> None:
    async with side.call() as s:
        live = (Post.title == "bye", Post.deleted_at.is_(None))
        await s.execute(update(Post).where(*live).values(deleted_at=utc_now()))


DELETED = Post.deleted_at.is_not(None)


async def rec_only_deleted(side: Side) -> dict[str, Any]:
    await rec_soft_delete_bye(side)
    query = q(side, Post.only_deleted())
    return {
        "all": await query.order_by("title").all(),
        "count": await query.count(),
        "get": await query.get(side.keys["post.hello"] + 1),
        "get_live": await query.get(side.keys["post.hello"]),
    }


async def orm_only_deleted(side: Side) -> dict[str, Any]:
    await orm_soft_delete_bye(side)
    found: dict[str, Any] = {}
    bye, hello = side.keys["post.hello"] + 1, side.keys["post.hello"]
    for key, statement in (
        ("all", select(Post).where(DELETED).order_by(Post.title)),
        ("count", select(func.count()).select_from(Post).where(DELETED)),
        ("get", select(Post).where(Post.id == bye, DELETED)),
        ("get_live", select(Post).where(Post.id == hello, DELETED)),
    ):
        async with side.call(read=True) as s:  # a session per call, as each call has
            result = await s.execute(statement)
            found[key] = result.scalars().all() if key == "all" else result.scalar()
    return found


async def rec_purge(side: Side) -> Any:
    await rec_soft_delete_bye(side)
    return await q(side, Post.only_deleted()).delete()


async def orm_purge(side: Side) -> Any:
    await orm_soft_delete_bye(side)
    async with side.call() as s:
        result = await s.execute(delete(Post).where(DELETED))
        return result.rowcount  # type: ignore[attr-defined]


TAGGED = (Post.id == post_tags.c.post_id, post_tags.c.tag_id == Tag.id)
LIVE = Post.deleted_at.is_(None)

SHAPE_OPS = [
    read_op(
        "only[Item]",
        lambda side: q(side, Item.order_by("email").only("email", Item.hits)).all(),
        lambda s: objects(
            s, select(Item).order_by(Item.email).options(load_only(Item.email, Item.hits))
        ),
    ),
    read_op(
        "only_deferred_column[Ticket]",
        lambda side: q(side, Ticket.order_by("title").only("title", "body")).all(),
        lambda s: objects(
            s, select(Ticket).order_by(Ticket.title).options(load_only(Ticket.title, Ticket.body))
        ),
    ),
    read_op(
        "defer[Ticket]",
        lambda side: q(side, Ticket.order_by("title").defer("payload", Ticket.summary)).all(),
        lambda s: objects(
            s,
            select(Ticket)
            .order_by(Ticket.title)
            .options(defer(Ticket.payload), defer(Ticket.summary)),
        ),
    ),
    read_op(
        "only[Animal]",
        lambda side: q(side, Animal.order_by("name").only("name")).all(),
        lambda s: objects(s, select(Animal).order_by(Animal.name).options(load_only(Animal.name))),
    ),
    only_save_op(Account, {"owner": "kim"}, (Account.balance,), {"balance": 20}),
    only_save_op(Item, {"email": "kim@x.com"}, (Item.email,), {"email": "kim2@x.com"}),
    # Its before_update hook reads the title, which only() left out: loaded in the flush.
    only_save_op(Ticket, {"title": "Broken printer"}, (Ticket.payload,), {"payload": {"n": 2}}),
    read_op(
        "distinct_joined[Post]",
        lambda side: q(side, Post.filter(*TAGGED).distinct().order_by("title")).all(),
        lambda s: unique_objects(s, select(Post).join(Post.tags).where(LIVE).order_by(Post.title)),
    ),
    read_op(
        "joinedload_limit[Parent]",
        lambda side: q(
            side, Parent.order_by("name").options(joinedload(Parent.kids)).limit(1)
        ).all(),
        lambda s: unique_objects(
            s, select(Parent).order_by(Parent.name).options(joinedload(Parent.kids)).limit(1)
        ),
    ),
    read_op(
        "load_joined_offset[Parent]",
        lambda side: q(
            side, Parent.order_by("name").load("kids", strategy="joined").offset(1)
        ).all(),
        lambda s: unique_objects(
            s, select(Parent).order_by(Parent.name).options(joinedload(Parent.kids)).offset(1)
        ),
    ),
    Op("only_deleted[Post]", rec_only_deleted, orm_only_deleted),
    Op("only_deleted_purge[Post]", rec_purge, orm_purge),
]
