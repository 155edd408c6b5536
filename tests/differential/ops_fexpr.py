"""F expressions: filters comparing columns, and values the database computes.

Each is the sqlrecord call next to the statement or unit-of-work code a team would
write with SQLAlchemy's own column expressions: ``Item.hits + 1`` assigned to an
attribute, flushed, and the object refreshed (the flush leaves the attribute
expired, and async code cannot load it later)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update

from sqlrecord import F

from .harness import Op, Side
from .models import Account, Item, Kid, Parent
from .ops_query import objects, q, read_op

BY_EMAIL = Item.email


async def rec_load(side: Side, model: Any, key: str) -> Any:
    return await model.using(side.s).get_or_fail(side.keys[key])


async def orm_load(side: Side, model: Any, key: str) -> Any:
    async with side.call(read=True) as s:
        return await s.get(model, side.keys[key])


async def orm_assign_flush_refresh(side: Side, obj: Any, values: dict[str, Any]) -> Any:
    async with side.call() as s:
        s.add(obj)
        for name, value in values.items():
            setattr(obj, name, value)
        await s.flush()
        await s.refresh(obj)
    return obj


def object_update_op(
    name: str,
    model: Any,
    key: str,
    rec_values: Any,
    orm_values: Any,
    expected: dict[str, str] | None = None,
) -> Op:
    """``obj.update(**values)`` with expressions, next to assign, flush and refresh."""

    async def rec(side: Side) -> Any:
        obj = await rec_load(side, model, key)
        return await obj.update(**rec_values())

    async def orm(side: Side) -> Any:
        return await orm_assign_flush_refresh(side, await orm_load(side, model, key), orm_values())

    return Op(name, rec, orm, expected=expected or {})


async def rec_fill_save(side: Side) -> Any:
    item = await rec_load(side, Item, "item.kim")
    item.fill(hits=F("hits") * 2 + F("doubled"), state=F("email"))
    return await item.save(session=side.s)


async def orm_fill_save(side: Side) -> Any:
    item = await orm_load(side, Item, "item.kim")
    values = {"hits": Item.hits * 2 + Item.doubled, "state": Item.email}
    return await orm_assign_flush_refresh(side, item, values)


# A row of the unit is in the session while the query UPDATE runs: it is
# synchronised as the ORM's "fetch" strategy does (sqlrecord's, see _query_writes).
async def rec_query_update_held(side: Side) -> Any:
    held = await rec_load(side, Item, "item.kim")
    count = await q(side, Item.filter_by(hits__lt=F("doubled"))).update(hits=F("hits") + 1)
    side.note("held", held)
    return count


async def orm_query_update_held(side: Side) -> Any:
    held = await orm_load(side, Item, "item.kim")
    async with side.call() as s:
        statement = (
            update(Item)
            .where(Item.hits < Item.doubled)
            .values(hits=Item.hits + 1)
            .execution_options(synchronize_session="fetch")
        )
        count = (await s.execute(statement)).rowcount  # type: ignore[attr-defined]
    side.note("held", held)
    return count


FEXPR_OPS = [
    read_op(
        "filter_f[Item]",
        lambda side: q(side, Item.filter_by(hits__gt=F("price") * 2).order_by("email")).all(),
        lambda s: objects(s, select(Item).where(Item.hits > Item.price * 2).order_by(BY_EMAIL)),
    ),
    read_op(
        "exclude_f[Item]",
        lambda side: q(side, Item.exclude(hits__gt=F("price") * 2).order_by("email")).all(),
        lambda s: objects(
            s,
            select(Item).where((Item.hits > Item.price * 2).is_not(True)).order_by(BY_EMAIL),
        ),
    ),
    read_op(
        "filter_f_to_one[Kid]",
        lambda side: q(side, Kid.filter_by(id__gt=F("parent__id")).order_by("name")).all(),
        lambda s: objects(
            s, select(Kid).join(Kid.parent).where(Kid.id > Parent.id).order_by(Kid.name)
        ),
    ),
    read_op(
        "filter_f_through_to_many[Parent]",
        lambda side: q(side, Parent.filter_by(kids__id__gt=F("id")).order_by("name")).all(),
        lambda s: objects(
            s, select(Parent).where(Parent.kids.any(Kid.id > Parent.id)).order_by(Parent.name)
        ),
    ),
    Op("query_update_f_held[Item]", rec_query_update_held, orm_query_update_held),
    object_update_op(
        "update_f[Item]",
        Item,
        "item.kim",
        lambda: {"hits": F("hits") + 1, "price": F("price") * 2},
        lambda: {"hits": Item.hits + 1, "price": Item.price * 2},
    ),
    object_update_op(
        "update_f_typed[Item]",
        Item,
        "item.kim",
        lambda: {"hits": Item.hits + 1},
        lambda: {"hits": Item.hits + 1},
    ),
    object_update_op(
        "update_f_versioned[Account]",
        Account,
        "account.kim",
        lambda: {"balance": F("balance") - 3},
        lambda: {"balance": Account.balance - 3},
    ),
    # The CHECK constraint refuses a negative balance: the same failure as the ORM's;
    # in a served session only sqlrecord's SAVEPOINT is rolled back, not the unit.
    object_update_op(
        "update_f_refused[Account]",
        Account,
        "account.kim",
        lambda: {"balance": F("balance") - 11},
        lambda: {"balance": Account.balance - 11},
        expected={
            "served:events.session": "served-savepoint",
            "request:events.session": "served-savepoint",
        },
    ),
    Op("fill_save_f[Item]", rec_fill_save, orm_fill_save),
]
