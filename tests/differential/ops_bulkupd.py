"""Rows by many keys and many objects written back: ``in_bulk`` and ``bulk_update``.

``in_bulk`` is compared with the ``select(Model).where(key IN (...))`` a team would
write (its rows keyed by hand); ``bulk_update`` with SQLAlchemy's ORM bulk UPDATE by
primary key, ``session.execute(update(Model), rows)``, fed the objects' values (and,
for a versioned model, the version each object holds, which that statement needs)."""

from __future__ import annotations

import datetime as dt
import decimal
from collections.abc import Callable
from typing import Any

from sqlalchemy import delete, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from .harness import Op, Side
from .models import Account, Dog, Item, Membership, Post, Ticket
from .ops_query import read_op
from .seed import BASE

MISSING = BASE + 99


def keyed(rows: Any, key: Callable[[Any], Any]) -> dict[Any, Any]:
    return {key(row): row for row in rows.all()}


# -- in_bulk -----------------------------------------------------------------


async def rec_in_bulk_items(side: Side) -> Any:
    ids = [side.keys["item.kim"], BASE + 3, MISSING, side.keys["item.kim"]]
    return await Item.with_session(side.s).in_bulk(ids)


async def orm_in_bulk_items(s: AsyncSession) -> Any:
    ids = [BASE + 1, BASE + 3, MISSING, BASE + 1]
    return keyed(await s.scalars(select(Item).where(Item.id.in_(ids))), lambda item: item.id)


async def rec_in_bulk_emails(side: Side) -> Any:
    return await Item.with_session(side.s).in_bulk(["lee@x.com", "no@x.com"], field="email")


async def orm_in_bulk_emails(s: AsyncSession) -> Any:
    found = await s.scalars(select(Item).where(Item.email.in_(["lee@x.com", "no@x.com"])))
    return keyed(found, lambda item: item.email)


async def rec_in_bulk_filtered(side: Side) -> Any:
    return (
        await Item.filter_by(state="new")
        .with_session(side.s)
        .in_bulk([BASE + n for n in (1, 2, 3)])
    )


async def orm_in_bulk_filtered(s: AsyncSession) -> Any:
    statement = select(Item).where(Item.id.in_([BASE + n for n in (1, 2, 3)]), Item.state == "new")
    return keyed(await s.scalars(statement), lambda item: item.id)


MEMBERS = [("acme", "kim"), ("acme", "zed"), ("acme", "lee")]


async def rec_in_bulk_composite(side: Side) -> Any:
    return await Membership.with_session(side.s).in_bulk(MEMBERS)


async def orm_in_bulk_composite(s: AsyncSession) -> Any:
    statement = select(Membership).where(tuple_(Membership.org, Membership.member).in_(MEMBERS))
    return keyed(await s.scalars(statement), lambda row: (row.org, row.member))


async def rec_in_bulk_dogs(side: Side) -> Any:
    return await Dog.with_session(side.s).in_bulk([BASE + 1, BASE + 2, BASE + 3])


async def orm_in_bulk_dogs(s: AsyncSession) -> Any:
    statement = select(Dog).where(Dog.id.in_([BASE + 1, BASE + 2, BASE + 3]))
    return keyed(await s.scalars(statement), lambda dog: dog.id)


async def hide_bye(side: Side) -> None:
    """Soft-delete the post 'bye' as plain code would."""
    async with side.call() as s:
        gone = dt.datetime.now(dt.UTC)
        await s.execute(update(Post).where(Post.id == BASE + 2).values(deleted_at=gone))


async def rec_in_bulk_soft(side: Side) -> Any:
    await Post.filter_by(id=BASE + 2).with_session(side.s).delete()
    posts = Post.with_session(side.s)
    return [
        await posts.in_bulk([BASE + 1, BASE + 2]),
        await posts.with_deleted().in_bulk([BASE + 2]),
    ]


async def orm_in_bulk_soft(side: Side) -> Any:
    await hide_bye(side)
    async with side.call(read=True) as s:
        live = select(Post).where(Post.id.in_([BASE + 1, BASE + 2]), Post.deleted_at.is_(None))
        first = keyed(await s.scalars(live), lambda post: post.id)
    async with side.call(read=True) as s:
        every = select(Post).where(Post.id.in_([BASE + 2]))
        return [first, keyed(await s.scalars(every), lambda post: post.id)]


# A row the unit holds, changed in memory: the query gives the unit's instance, as is.
async def rec_in_bulk_held(side: Side) -> Any:
    held = await Item.using(side.s).get_or_fail(BASE + 1)
    held.state = "in memory"
    found = await Item.with_session(side.s).in_bulk([BASE + 1])
    return [found[BASE + 1] is held, found[BASE + 1].state]


async def orm_in_bulk_held(side: Side) -> Any:
    async with side.call(read=True) as s:
        held = await s.get(Item, BASE + 1)
    assert held is not None
    held.state = "in memory"
    async with side.call(read=True) as s:
        found = keyed(await s.scalars(select(Item).where(Item.id.in_([BASE + 1]))), lambda i: i.id)
    return [found[BASE + 1] is held, found[BASE + 1].state]


# -- bulk_update -------------------------------------------------------------


def bulk_update_op(
    name: str,
    model: Any,
    fields: list[str],
    change: Callable[[int, Any], None],
    *,
    before: Callable[[Side, list[Any]], Any] | None = None,
    expected: dict[str, str] | None = None,
) -> Op:
    """Load every row of ``model`` by id, ``change`` each object, write ``fields`` back."""
    versioned = Account is model

    async def load(side: Side, s: AsyncSession | None) -> list[Any]:
        if side.name == "sqlrecord":
            return await model.with_session(side.s).order_by("id").all()
        assert s is not None
        return list((await s.scalars(select(model).order_by(model.id))).all())

    async def rec(side: Side) -> Any:
        objects = await load(side, None)
        for n, obj in enumerate(objects):
            change(n, obj)
        if before is not None:
            await before(side, objects)
        count = await model.using(side.s).bulk_update(objects, fields)
        return [count, objects]

    async def orm(side: Side) -> Any:
        async with side.call(read=True) as s:
            objects = await load(side, s)
        for n, obj in enumerate(objects):
            change(n, obj)
        if before is not None:
            await before(side, objects)
        rows = [
            {
                "id": obj.id,
                **{field: getattr(obj, field) for field in fields},
                **({"version": obj.version} if versioned else {}),
            }
            for obj in objects
        ]
        async with side.call() as s:
            await s.execute(update(model), rows)
        return [len(rows), objects]

    return Op(name, rec, orm, expected=expected or {})


def _item(n: int, item: Any) -> None:
    item.state = f"s{n}"
    item.price = decimal.Decimal(n) + decimal.Decimal("0.25")


def _account(n: int, account: Any) -> None:
    account.balance += 5 * (n + 1)


def _ticket(n: int, ticket: Any) -> None:
    ticket.title = f"Renamed {n}"


def _dog(n: int, dog: Any) -> None:
    dog.good = not dog.good
    dog.name = f"{dog.name}-{n}"


async def kim_was_loaded_earlier(side: Side, objects: list[Any]) -> None:
    """The account 'kim' held as loaded before another writer saved it: its version is
    one behind the row's (in memory: a second writer would wait for SQLite's lock)."""
    set_committed_value(objects[0], "version", objects[0].version - 1)


async def lee_deleted(side: Side, objects: list[Any]) -> None:
    """The row of the item 'lee' is deleted after its object was loaded, by a Core
    statement (the session's objects are not told): in the unit, else committed."""
    table = Item.__table__
    statement = delete(table).where(table.c.id == BASE + 2)
    if side.name == "orm":
        async with side.call() as s:
            await s.execute(statement)
        return
    unit = side.s or side.db.current_session()
    if unit is not None:
        await unit.execute(statement)
        return
    async with side.db.sessionmaker() as s, s.begin():
        await s.execute(statement)


# The ORM's statement leaves its objects as they were loaded (the versions they held,
# the onupdate values from before: Item.note) and expires the fields on the objects the
# session holds; sqlrecord's objects show what was written.
REFRESHED = "bulk-update-refreshes"
OBJECTS = "*result[[]1][[]*]"
# In a served unit the objects, changed, are pending: flushed (their hooks fired) when
# sqlrecord's SAVEPOINT begins, where the plain unit flushes them when it commits.
SERVED = {
    f"{kind}:events.session": "served-savepoint" for kind in ("transaction", "served", "request")
}
REFRESHED_OBJECTS = {
    f"{OBJECTS}.{part}": REFRESHED for part in ("values.*", "expired", "unloaded")
} | SERVED
# sqlrecord checks every row before writing, on every driver; the ORM counts the rows
# after writing, and only where the driver counts an executemany's rows (not asyncpg).
CHECKED = "bulk-update-checks-rows"
CHECKED_ROWS = dict.fromkeys(("error", "*result*", "rows.*", "events.*"), CHECKED)


BULKUPD_OPS = [
    read_op("in_bulk[Item]", rec_in_bulk_items, orm_in_bulk_items),
    read_op("in_bulk_field[Item]", rec_in_bulk_emails, orm_in_bulk_emails),
    read_op("in_bulk_filtered[Item]", rec_in_bulk_filtered, orm_in_bulk_filtered),
    read_op("in_bulk[Membership]", rec_in_bulk_composite, orm_in_bulk_composite),
    read_op("in_bulk[Dog]", rec_in_bulk_dogs, orm_in_bulk_dogs),
    read_op("in_bulk_soft[Post]", rec_in_bulk_soft, orm_in_bulk_soft, calls=2),
    read_op("in_bulk_held[Item]", rec_in_bulk_held, orm_in_bulk_held, calls=2),
    bulk_update_op(
        "bulk_update[Item]", Item, ["state", "price"], _item, expected=REFRESHED_OBJECTS
    ),
    bulk_update_op(
        "bulk_update[Account]", Account, ["balance"], _account, expected=REFRESHED_OBJECTS
    ),
    bulk_update_op(
        "bulk_update_stale[Account]",
        Account,
        ["balance"],
        _account,
        before=kim_was_loaded_earlier,
        expected=SERVED,
    ),
    bulk_update_op(
        "bulk_update_vanished[Item]",
        Item,
        ["state"],
        _item,
        before=lee_deleted,
        expected=CHECKED_ROWS,
    ),
    bulk_update_op("bulk_update[Ticket]", Ticket, ["title"], _ticket, expected=REFRESHED_OBJECTS),
    bulk_update_op("bulk_update[Dog]", Dog, ["good", "name"], _dog, expected=REFRESHED_OBJECTS),
]
