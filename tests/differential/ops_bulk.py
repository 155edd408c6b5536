"""Many-row writes: bulk_create, upsert, and query-level UPDATE/DELETE.

The plain reference for ``bulk_create`` and ``upsert`` is the unit of work
(``add_all``; load, assign or add), which is what those calls promise to be
equivalent to: validators, discriminators, version counters, Python defaults and
onupdate callables all apply there."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select, update

from .harness import Op, Side
from .models import Dog, Item, Parent
from .profiles import Profile, profiles


def bulk_ops(p: Profile) -> list[Op]:
    model, rows = p.model, [dict(row) for row in p.rows]

    async def rec_bulk(side: Side) -> Any:
        return await model.using(side.s).bulk_create(rows)

    async def rec_bulk_objects(side: Side) -> Any:
        return await model.using(side.s).bulk_create(rows, return_objects=True)

    async def orm_bulk_objects(side: Side) -> Any:
        objects = [model(**row) for row in rows]
        async with side.call() as s:
            s.add_all(objects)
            await s.flush()
        return objects

    async def orm_bulk(side: Side) -> Any:
        return len(await orm_bulk_objects(side))

    return [
        Op(f"bulk_create[{p.name}]", rec_bulk, orm_bulk),
        Op(f"bulk_create_objects[{p.name}]", rec_bulk_objects, orm_bulk_objects),
    ]


def upsert_op(p: Profile) -> Op:
    assert p.upsert is not None
    given, conflict, updated = p.upsert
    model = p.model

    async def rec(side: Side) -> Any:
        return await model.using(side.s).upsert(
            [dict(row) for row in given], conflict=list(conflict), update=list(updated)
        )

    async def orm(side: Side) -> Any:
        async with side.call() as s:
            for row in given:
                lookups = {name: row[name] for name in conflict}
                found = (await s.scalars(select(model).filter_by(**lookups))).one_or_none()
                if found is None:
                    s.add(model(**row))
                else:
                    for name in updated:
                        setattr(found, name, row[name])
            await s.flush()
        return len(given)

    # One statement (SQLAlchemy's ORM upsert) runs no flush and no mapper hook; a model
    # whose hook writes a value (Ticket's before_insert) stores the row without it.
    expected = {"events.hooks": "upsert-one-statement", "events.session": "upsert-one-statement"}
    if p.name == "Ticket":
        expected["rows.dh_tickets"] = "upsert-one-statement"
    # The plain side reads each row to decide; those loads are its way, not a result.
    return Op(f"upsert[{p.name}]", rec, orm, skip=("events.lifecycle",), expected=expected)


def query_write_op(
    name: str,
    model: Any,
    rec_query: Any,
    where: Any,
    values: dict[str, Any],
    order: Any = None,
    limit: int | None = None,
) -> Op:
    """``rec_query().update(**values)`` (or ``.delete()`` when ``values`` is empty) next to
    the ORM-enabled UPDATE/DELETE; with order/limit, the plain side picks the keys first."""

    async def rec(side: Side) -> Any:
        query = rec_query().with_session(side.s)
        return await (query.update(**values) if values else query.delete())

    async def orm(side: Side) -> Any:
        async with side.call() as s:
            condition = where()
            if limit is not None:
                chosen = select(model.id).where(condition).order_by(order()).limit(limit)
                condition = model.id.in_(list((await s.scalars(chosen)).all()))
            statement = (
                update(model).where(condition).values(**values)
                if values
                else delete(model).where(condition)
            )
            result = await s.execute(statement)
            return result.rowcount  # type: ignore[attr-defined]

    return Op(name, rec, orm)


BULK_OPS = [
    *[op for p in profiles("Item", "Ticket", "Account", "Membership", "Dog") for op in bulk_ops(p)],
    *[upsert_op(p) for p in profiles("Item", "Ticket", "Account", "Dog")],
    query_write_op(
        "query_update[Item]",
        Item,
        lambda: Item.filter_by(state="new"),
        lambda: Item.state == "new",
        {"state": "done"},
    ),
    query_write_op(
        "query_update_ordered_limited[Item]",
        Item,
        lambda: Item.order_by("-email").limit(2),
        lambda: Item.id.is_not(None),
        {"hits": 11},
        order=lambda: Item.email.desc(),
        limit=2,
    ),
    query_write_op(
        "query_update[Dog]",
        Dog,
        lambda: Dog.filter_by(),
        lambda: Dog.id.is_not(None),
        {"good": None},
    ),
    query_write_op(
        "query_delete[Item]",
        Item,
        lambda: Item.filter_by(hits__gt=2),
        lambda: Item.hits > 2,
        {},
    ),
    query_write_op(
        "query_delete_ordered_limited[Item]",
        Item,
        lambda: Item.order_by("hits").limit(1),
        lambda: Item.id.is_not(None),
        {},
        order=lambda: Item.hits,
        limit=1,
    ),
    query_write_op(
        "query_delete[Dog]",
        Dog,
        lambda: Dog.filter_by(name="fido"),
        lambda: Dog.name == "fido",
        {},
    ),
    query_write_op(
        "query_delete[Parent]",
        Parent,
        lambda: Parent.filter_by(name="pa"),
        lambda: Parent.name == "pa",
        {},
    ),
]
