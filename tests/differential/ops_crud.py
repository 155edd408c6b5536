"""Object-level operations, generic over the catalogue's models: create, save (new,
changed, unchanged-but-assigned, detached), update, delete, get, get_or_fail.

Each pair is the sqlrecord call and the same work written as plain ``AsyncSession``
code. On the plain side ``side.call()`` is the session of one logical call (in the
``own`` kind a new session, committed and closed at its end)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from .harness import Op, Side
from .profiles import ALL, Profile, profiles

# -- shared steps ------------------------------------------------------------


async def rec_load(side: Side, p: Profile) -> Any:
    return await p.model.using(side.s).get_or_fail(p.pk(side.keys))


async def orm_load(side: Side, p: Profile) -> Any:
    async with side.call(read=True) as s:
        return await s.get(p.model, p.pk(side.keys))


async def orm_flush(side: Side, obj: Any) -> Any:
    async with side.call() as s:
        s.add(obj)
        await s.flush()
    return obj


def _set(obj: Any, values: dict[str, Any]) -> Any:
    for name, value in values.items():
        setattr(obj, name, value)
    return obj


# -- operations --------------------------------------------------------------


def crud_ops(p: Profile) -> list[Op]:
    model = p.model

    async def rec_create(side: Side) -> Any:
        return await model.using(side.s).create(**p.new)

    async def orm_create(side: Side) -> Any:
        return await orm_flush(side, model(**p.new))

    async def rec_save_new(side: Side) -> Any:
        return await model(**p.new).save(session=side.s)

    async def rec_save_changed(side: Side) -> Any:
        obj = _set(await rec_load(side, p), p.change)
        return await obj.save(session=side.s)

    async def orm_save_changed(side: Side) -> Any:
        return await orm_flush(side, _set(await orm_load(side, p), p.change))

    async def rec_save_assigned(side: Side) -> Any:
        obj = await rec_load(side, p)
        return await _set(obj, {name: getattr(obj, name) for name in p.change}).save(session=side.s)

    async def orm_save_assigned(side: Side) -> Any:
        obj = await orm_load(side, p)
        return await orm_flush(side, _set(obj, {name: getattr(obj, name) for name in p.change}))

    async def rec_save_detached(side: Side) -> Any:
        async with side.db.sessionmaker() as elsewhere:
            obj = await model.using(elsewhere).get_or_fail(p.pk(side.keys))
        return await _set(obj, p.change).save(session=side.s)

    async def orm_save_detached(side: Side) -> Any:
        async with side.db.sessionmaker() as elsewhere:
            obj = await elsewhere.get(model, p.pk(side.keys))
        return await orm_flush(side, _set(obj, p.change))

    # The session holds the row (``held`` keeps it in the weak identity map) while
    # a copy loaded elsewhere is saved into it: the ORM's way is merge().
    async def rec_save_detached_held(side: Side) -> Any:
        held = await rec_load(side, p)
        async with side.db.sessionmaker() as elsewhere:
            obj = await model.using(elsewhere).get_or_fail(p.pk(side.keys))
        saved = await _set(obj, p.change).save(session=side.s)
        side.note("held", held)
        return saved

    async def orm_save_detached_held(side: Side) -> Any:
        held = await orm_load(side, p)
        async with side.db.sessionmaker() as elsewhere:
            obj = await elsewhere.get(model, p.pk(side.keys))
        _set(obj, p.change)
        async with side.call() as s:
            await s.merge(obj)
            await s.flush()
        side.note("held", held)
        return obj

    async def rec_update(side: Side) -> Any:
        return await (await rec_load(side, p)).update(**p.change)

    async def rec_delete(side: Side) -> Any:
        obj = await rec_load(side, p)
        await obj.delete(session=side.s)
        return obj

    async def orm_delete(side: Side) -> Any:
        obj = await orm_load(side, p)
        async with side.call() as s:
            await s.delete(obj)
            await s.flush()
        return obj

    async def rec_get_or_fail(side: Side) -> Any:
        return await rec_load(side, p)

    async def orm_get(side: Side) -> Any:
        return await orm_load(side, p)

    # The second get() of a row the unit holds: the identity map answers.
    async def rec_get_held(side: Side) -> Any:
        first = await model.using(side.s).get(p.pk(side.keys))
        again = await model.using(side.s).get(p.pk(side.keys))
        return [first, again is first]

    async def orm_get_held(side: Side) -> Any:
        async with side.call(read=True) as s:
            first = await s.get(model, p.pk(side.keys))
            again = await s.get(model, p.pk(side.keys))
        return [first, again is first]

    async def rec_get(side: Side) -> Any:
        return await model.using(side.s).get(p.pk(side.keys))

    async def rec_get_unique(side: Side) -> Any:
        return await model.using(side.s).get(**p.unique)

    async def orm_get_unique(side: Side) -> Any:
        async with side.call(read=True) as s:
            return (await s.scalars(select(model).filter_by(**p.unique))).one_or_none()

    async def rec_get_missing(side: Side) -> Any:
        return await model.using(side.s).get(p.missing)

    async def orm_get_missing(side: Side) -> Any:
        async with side.call(read=True) as s:
            return await s.get(model, p.missing)

    async def rec_get_or_fail_missing(side: Side) -> Any:
        return await model.using(side.s).get_or_fail(p.missing)

    async def orm_get_or_fail_missing(side: Side) -> Any:
        async with side.call(read=True) as s:
            return await s.get_one(model, p.missing)

    ops = [
        Op(f"create[{p.name}]", rec_create, orm_create),
        Op(f"update[{p.name}]", rec_update, orm_save_changed),
        Op(f"get[{p.name}]", rec_get, orm_get),
        Op(
            f"save_detached[{p.name}]",
            rec_save_detached,
            orm_save_detached,
            kinds=("transaction", "served", "request"),
        ),
    ]
    if p.name in FEW:
        ops += [
            Op(f"save_new[{p.name}]", rec_save_new, orm_create),
            Op(f"save_changed[{p.name}]", rec_save_changed, orm_save_changed),
            Op(f"save_assigned_unchanged[{p.name}]", rec_save_assigned, orm_save_assigned),
            Op(f"get_unique[{p.name}]", rec_get_unique, orm_get_unique),
            Op(f"get_missing[{p.name}]", rec_get_missing, orm_get_missing),
            Op(f"get_or_fail_missing[{p.name}]", rec_get_or_fail_missing, orm_get_or_fail_missing),
            Op(f"get_or_fail[{p.name}]", rec_get_or_fail, orm_get),
            Op(
                f"get_held[{p.name}]",
                rec_get_held,
                orm_get_held,
                kinds=("transaction", "served", "request"),
            ),
            Op(
                f"save_detached_held[{p.name}]",
                rec_save_detached_held,
                orm_save_detached_held,
                kinds=("transaction", "served", "request"),
                expected={
                    "result.values.*": "save-merges-back",
                    "inside.result.values.*": "save-merges-back",
                },
            ),
        ]
    if p.name != "Post":  # Post.delete() soft-deletes: a different operation
        ops.append(Op(f"delete[{p.name}]", rec_delete, orm_delete))
    return ops


# The models every CRUD operation runs on; the others get create, update, get, delete
# and save_detached (their mapping features show there).
FEW = {"Item", "Ticket", "Account", "Token", "Membership", "Dog"}

CRUD_OPS = [op for p in profiles(*ALL) for op in crud_ops(p)]
