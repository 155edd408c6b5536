"""Annotations and aggregates: ``annotate``, ``aggregate``, ``group_by``/``having`` next to the
``select()`` a team would write for them.

A team's statement for a count per parent is a correlated scalar subquery (a JOIN with
GROUP BY would multiply rows as soon as a second to-many count joins in); for sums and
averages it converts the driver's values itself (MariaDB sums integers to ``Decimal``,
PostgreSQL averages to ``Decimal``), as sqlrecord does: ``int`` for whole numbers,
``float`` for averages.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Float, cast, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from sqlrecord import Avg, Coalesce, Count, F, Max, Sum

from .harness import Op, Side
from .models import Item, Kid, Parent, Post, post_tags
from .ops_query import q, read_op


def _whole(value: Any) -> int | None:
    return None if value is None else int(value)


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


KIDS = select(func.count(Kid.id)).where(Kid.parent_id == Parent.id).scalar_subquery()


async def rec_annotate(side: Side) -> list[Any]:
    query = Parent.annotate(n=Count("kids")).filter_by(n__gte=1).order_by("-n", "name")
    return [(parent, parent.n) for parent in await q(side, query).all()]


async def orm_annotate(s: AsyncSession) -> list[Any]:
    statement = select(Parent, KIDS).where(KIDS >= 1).order_by(KIDS.desc(), Parent.name)
    return [tuple(row) for row in await s.execute(statement)]


async def rec_two_to_many(side: Side) -> list[Any]:
    query = Parent.annotate(n=Count("kids"), reach=Count("kids__parent__kids")).order_by("name")
    return await q(side, query).values("name", "n", "reach")


async def orm_two_to_many(s: AsyncSession) -> list[Any]:
    sibling = aliased(Kid)
    reach = (
        select(func.count(sibling.id))
        .select_from(Kid)
        .join(sibling, sibling.parent_id == Kid.parent_id)
        .where(Kid.parent_id == Parent.id)
        .scalar_subquery()
    )
    statement = select(Parent.name, KIDS.label("n"), reach.label("reach")).order_by(Parent.name)
    return [dict(row._mapping) for row in await s.execute(statement)]


async def rec_tags(side: Side) -> list[Any]:
    query = Post.annotate(t=Count("tags"), last=Max("tags__name")).order_by("title")
    return await q(side, query).values_list("title", "t", "last")


async def orm_tags(s: AsyncSession) -> list[Any]:
    def per_post(function: Any) -> Any:
        return (
            select(function)
            .select_from(post_tags)
            .join(Post.tags.property.mapper.class_)
            .where(post_tags.c.post_id == Post.id)
            .scalar_subquery()
        )

    tag = Post.tags.property.mapper.class_
    statement = (
        select(Post.title, per_post(func.count(tag.id)), per_post(func.max(tag.name)))
        .where(Post.deleted_at.is_(None))
        .order_by(Post.title)
    )
    return [tuple(row) for row in await s.execute(statement)]


async def rec_aggregate(side: Side) -> dict[str, Any]:
    query = Item.filter_by(state="new")
    return await q(side, query).aggregate(
        total=Sum("hits"), n=Count("id"), top=Max("price"), mean=Avg("hits")
    )


async def orm_aggregate(s: AsyncSession) -> dict[str, Any]:
    statement = select(
        func.sum(Item.hits),
        func.count(Item.id),
        func.max(Item.price),
        func.avg(cast(Item.hits, Float)),
    ).where(Item.state == "new")
    total, n, top, mean = (await s.execute(statement)).one()
    return {"total": _whole(total), "n": n, "top": top, "mean": _float(mean)}


async def rec_group_by(side: Side) -> list[dict[str, Any]]:
    grouped = q(side, Item.filter_by()).group_by("state").order_by("-hits")
    return await grouped.aggregate(n=Count("id"), hits=Sum("hits"))


async def orm_group_by(s: AsyncSession) -> list[dict[str, Any]]:
    statement = (
        select(Item.state, func.count(Item.id), func.sum(Item.hits))
        .group_by(Item.state)
        .order_by(func.sum(Item.hits).desc())
    )
    rows = await s.execute(statement)
    return [{"state": state, "n": n, "hits": _whole(hits)} for state, n, hits in rows]


async def rec_having(side: Side) -> list[dict[str, Any]]:
    grouped = q(side, Item.filter_by()).group_by("state").having(n__gte=2)
    return await grouped.aggregate(n=Count("id"), cheapest=Coalesce(Sum("price"), 0))


async def orm_having(s: AsyncSession) -> list[dict[str, Any]]:
    statement = (
        select(Item.state, func.count(Item.id), func.coalesce(func.sum(Item.price), 0))
        .group_by(Item.state)
        .having(func.count(Item.id) >= 2)
    )
    rows = await s.execute(statement)
    return [{"state": state, "n": n, "cheapest": cheapest} for state, n, cheapest in rows]


async def rec_coalesce(side: Side) -> list[dict[str, Any]]:
    query = Item.annotate(price_or_zero=Coalesce(F("price"), 0), twice=F("hits") * 2)
    return await q(side, query.order_by("email")).values("email", "price_or_zero", "twice")


async def orm_coalesce(s: AsyncSession) -> list[dict[str, Any]]:
    statement = select(
        Item.email,
        func.coalesce(Item.price, 0).label("price_or_zero"),
        (Item.hits * 2).label("twice"),
    ).order_by(Item.email)
    return [dict(row._mapping) for row in await s.execute(statement)]


ANNOT_OPS: list[Op] = [
    read_op("annotate[Parent]", rec_annotate, orm_annotate),
    read_op("annotate-two-to-many[Parent]", rec_two_to_many, orm_two_to_many),
    read_op("annotate-m2m[Post]", rec_tags, orm_tags),
    read_op("aggregate[Item]", rec_aggregate, orm_aggregate),
    read_op("group_by[Item]", rec_group_by, orm_group_by),
    read_op("having[Item]", rec_having, orm_having),
    read_op("annotate-coalesce[Item]", rec_coalesce, orm_coalesce),
]
