"""Operations that are scenarios: failures, concurrent writers, relationship changes in
a unit of work, and the unique-key writes (get_or_create and friends)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import exc as sa_exc
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from .harness import Op, Side, error_signature
from .models import Account, Item, Kid, Parent, Post, Tag
from .ops_crud import orm_flush, orm_load, rec_load
from .profiles import PROFILES

ITEM, ACCOUNT = PROFILES["Item"], PROFILES["Account"]
UNITS = ("transaction", "served", "request")

# -- failures ------------------------------------------------------------------


async def rec_duplicate(side: Side) -> Any:
    return await Item.using(side.s).create(email="kim@x.com")


async def orm_duplicate(side: Side) -> Any:
    return await orm_flush(side, Item(email="kim@x.com"))


async def rec_continue(side: Side) -> Any:
    first = await Item.using(side.s).create(email="first@x.com")
    await side.attempt("duplicate.error", Item.using(side.s).create(email="kim@x.com"))
    return [first, await Item.using(side.s).create(email="second@x.com")]


async def orm_continue(side: Side) -> Any:
    s = side.unit
    assert s is not None
    first = await orm_flush(side, Item(email="first@x.com"))
    try:
        await orm_flush(side, Item(email="kim@x.com"))
    except sa_exc.IntegrityError as error:
        side.notes["duplicate.error"] = error_signature(error)
        await s.rollback()  # what the ORM needs before the session can be used again
    return [first, await orm_flush(side, Item(email="second@x.com"))]


async def rec_failed_update(side: Side) -> Any:
    obj = await rec_load(side, ACCOUNT)
    await side.attempt("check.error", obj.update(balance=-5))
    side.note("after_failure", obj)
    return obj


async def orm_failed_update(side: Side) -> Any:
    obj = await orm_load(side, ACCOUNT)
    obj.balance = -5
    try:
        await orm_flush(side, obj)
    except sa_exc.DBAPIError as error:  # MariaDB reports a failed CHECK as OperationalError
        side.notes["check.error"] = error_signature(error)
        if side.unit is not None:
            await side.unit.rollback()
    side.note("after_failure", obj)
    return obj


async def rec_stale(side: Side) -> Any:
    mine = await rec_load(side, ACCOUNT)
    theirs = await Account.get_or_fail(side.keys["account.kim"])
    await theirs.update(balance=1)
    await side.attempt("stale.error", mine.update(balance=2))
    side.note("after_failure", mine)
    return mine


async def orm_stale(side: Side) -> Any:
    mine = await orm_load(side, ACCOUNT)
    async with side.db.sessionmaker() as other:  # another caller: load, then update
        theirs = await other.get(Account, side.keys["account.kim"])
    assert theirs is not None
    theirs.balance = 1
    async with side.db.sessionmaker() as other:
        other.add(theirs)
        await other.flush()
        await other.commit()
    mine.balance = 2
    try:
        await orm_flush(side, mine)
    except sa_exc.SQLAlchemyError as error:
        side.notes["stale.error"] = error_signature(error)
    side.note("after_failure", mine)
    return mine


async def rec_lost_update(side: Side) -> Any:
    mine = await Item.create(email="mine@x.com", state="new")
    theirs = await Item.get_or_fail(email="mine@x.com")
    await theirs.update(state="paid")
    mine.state = "new"
    return await mine.save()


async def orm_lost_update(side: Side) -> Any:
    mine = await orm_flush(side, Item(email="mine@x.com", state="new"))
    async with side.db.sessionmaker() as other:  # another caller: load, then update
        theirs = (await other.scalars(select(Item).filter_by(email="mine@x.com"))).one()
    theirs.state = "paid"
    async with side.db.sessionmaker() as other:
        other.add(theirs)
        await other.flush()
        await other.commit()
    mine.state = "new"
    return await orm_flush(side, mine)


# -- relationships in a unit of work -------------------------------------------------


async def rec_parent(side: Side) -> Parent:
    return await Parent.filter_by(name="pa").load("kids").with_session(side.s).one()


async def orm_parent(side: Side) -> Parent:
    s = side.unit
    assert s is not None
    query = select(Parent).filter_by(name="pa").options(selectinload(Parent.kids))
    return (await s.scalars(query)).one()


def _unit_session(side: Side) -> Any:
    return side.s if side.s is not None else side.db.current_session()


async def rec_delete_kid_then_save(side: Side) -> Any:
    parent = await rec_parent(side)
    await _unit_session(side).delete(parent.kids[0])
    parent.name = "q"
    return await parent.save(session=side.s)


async def orm_delete_kid_then_save(side: Side) -> Any:
    parent = await orm_parent(side)
    assert side.unit is not None
    await side.unit.delete(parent.kids[0])
    parent.name = "q"
    return await orm_flush(side, parent)


async def rec_orphan(side: Side) -> Any:
    parent = await rec_parent(side)
    parent.kids.remove(parent.kids[0])
    return await parent.save(session=side.s)


async def orm_orphan(side: Side) -> Any:
    parent = await orm_parent(side)
    parent.kids.remove(parent.kids[0])
    return await orm_flush(side, parent)


async def rec_parent_with_kids(side: Side) -> Any:
    return await Parent.using(side.s).create(name="pc", kids=[Kid(name="x"), Kid(name="y")])


async def orm_parent_with_kids(side: Side) -> Any:
    return await orm_flush(side, Parent(name="pc", kids=[Kid(name="x"), Kid(name="y")]))


async def rec_post_with_tags(side: Side) -> Any:
    tags = await Tag.filter_by(name__in=["a", "c"]).order_by("name").with_session(side.s).all()
    return await Post.using(side.s).create(title="p-new", tags=tags)


async def orm_post_with_tags(side: Side) -> Any:
    async with side.call(read=True) as s:
        tags = list(
            (await s.scalars(select(Tag).where(Tag.name.in_(["a", "c"])).order_by(Tag.name))).all()
        )
    return await orm_flush(side, Post(title="p-new", tags=tags))


# -- unique-key writes ---------------------------------------------------------------


async def _orm_find(side: Side, lock: bool, **lookups: Any) -> Item | None:
    async with side.call(read=True) as s:
        query = select(Item).filter_by(**lookups)
        return (await s.scalars(query.with_for_update() if lock else query)).one_or_none()


def get_or_create_op(email: str) -> Op:
    async def rec(side: Side) -> Any:
        return await Item.using(side.s).get_or_create({"state": "paid"}, email=email)

    async def orm(side: Side) -> Any:
        async with side.call() as s:
            found = (await s.scalars(select(Item).filter_by(email=email))).one_or_none()
            if found is not None:
                return found, False
            created = Item(email=email, state="paid")
            s.add(created)
            await s.flush()
            return created, True

    return Op(f"get_or_create[{email}]", rec, orm)


def update_or_create_op(email: str, through: str) -> Op:
    async def rec(side: Side) -> Any:
        if through == "create_or_update":
            return await Item.using(side.s).create_or_update(email=email, state="paid")
        return await Item.using(side.s).update_or_create({"state": "paid"}, email=email)

    async def orm(side: Side) -> Any:
        async with side.call() as s:
            query = select(Item).filter_by(email=email).with_for_update()
            found = (await s.scalars(query)).one_or_none()
            created = found is None
            if found is None:
                found = Item(email=email)
                s.add(found)
            found.state = "paid"
            await s.flush()
        return found if through == "create_or_update" else (found, created)

    return Op(f"{through}[{email}]", rec, orm)


UNIT_OPS = [
    # Served: the failed write's SAVEPOINT is rolled back, not the unit, so no
    # after_rollback fires (the ORM's failed flush rolls the whole unit back).
    Op(
        "create_duplicate[Item]",
        rec_duplicate,
        orm_duplicate,
        expected={
            "served:events.session": "served-savepoint",
            "request:events.session": "served-savepoint",
        },
    ),
    Op(
        "continue_after_failed_write[Item]",
        rec_continue,
        orm_continue,
        kinds=("served", "request"),
        expected={
            "rows*": "served-savepoint",
            "result*": "served-savepoint",
            "inside.result*": "served-savepoint",
            "events*": "served-savepoint",
        },
    ),
    Op(
        "failed_update[Account]",
        rec_failed_update,
        orm_failed_update,
        expected={
            "note.after_failure*": "failed-write-restores",
            "result*": "failed-write-restores",
            "inside.result*": "failed-write-restores",
            "served:events*": "served-savepoint",
            "request:events*": "served-savepoint",
            "transaction:events*": "served-savepoint",
        },
    ),
    Op(
        "stale_version[Account]",
        rec_stale,
        orm_stale,
        kinds=("own",),
        expected={
            "note.after_failure*": "failed-write-restores",
            "result*": "failed-write-restores",
        },
    ),
    Op("lost_update[Item]", rec_lost_update, orm_lost_update, kinds=("own",)),
    Op("delete_kid_then_save[Parent]", rec_delete_kid_then_save, orm_delete_kid_then_save, UNITS),
    Op("remove_orphan_then_save[Parent]", rec_orphan, orm_orphan, UNITS),
    Op("create_with_kids[Parent]", rec_parent_with_kids, orm_parent_with_kids),
    Op("create_with_tags[Post]", rec_post_with_tags, orm_post_with_tags),
    get_or_create_op("kim@x.com"),
    get_or_create_op("new@x.com"),
    update_or_create_op("kim@x.com", "update_or_create"),
    update_or_create_op("new@x.com", "update_or_create"),
    update_or_create_op("kim@x.com", "create_or_update"),
]
