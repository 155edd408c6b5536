"""Tortoise ORM as its docs show it, on the same tables (``Meta.table``)."""

from __future__ import annotations

from typing import Any, ClassVar

import tortoise
from sqlalchemy import Boolean, DateTime, Float, Integer
from tortoise import Tortoise, fields
from tortoise.models import Model
from tortoise.transactions import in_transaction

from ..schema import WIDE_FIELDS
from ..targets import Target
from .base import Contestant, Handle

__all__ = ["TortoiseContestant"]

_COLUMNS = ("timestamp", "level", "text")


class Narrow(Model):
    id = fields.IntField(primary_key=True)
    timestamp = fields.DatetimeField()
    level = fields.SmallIntField(db_index=True)
    text = fields.CharField(max_length=255, db_index=True)

    class Meta:
        table = "bench_narrow"


def _wide_field(type_: Any) -> fields.Field[Any]:
    if type_ is Integer:
        return fields.IntField()
    if type_ is Float:
        return fields.FloatField()
    if type_ is Boolean:
        return fields.BooleanField()
    if type_ is DateTime:
        return fields.DatetimeField()
    return fields.CharField(max_length=type_.length)


Wide = type(
    "Wide",
    (Model,),
    {
        "__module__": __name__,
        "id": fields.IntField(primary_key=True),
        **{name: _wide_field(type_) for name, type_ in WIDE_FIELDS},
        "Meta": type("Meta", (), {"table": "bench_wide"}),
    },
)


class Parent(Model):
    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=50)
    children: fields.ReverseRelation[Child]

    class Meta:
        table = "bench_parent"


class Child(Model):
    id = fields.IntField(primary_key=True)
    parent: fields.ForeignKeyRelation[Parent] = fields.ForeignKeyField(
        "models.Parent", related_name="children"
    )
    name = fields.CharField(max_length=50)

    class Meta:
        table = "bench_child"


class Upsert(Model):
    id = fields.IntField(primary_key=True)
    key = fields.CharField(max_length=64, unique=True)
    level = fields.IntField()
    text = fields.CharField(max_length=255)

    class Meta:
        table = "bench_upsert"


MODELS: dict[str, Any] = {"narrow": Narrow, "wide": Wide, "upsert": Upsert}


class TortoiseContestant(Contestant):
    """Tortoise models; pools sized like everyone else's, or (the defaults row) Tortoise's own
    (SQLite: one connection either way, by design)."""

    name: ClassVar[str] = "tortoise"
    label: ClassVar[str] = "Tortoise ORM"
    not_available: ClassVar[dict[str, str]] = {
        "get_hit": "no identity map",
        "stream": "no streaming: iterating a queryset fetches every row first",
    }

    async def start(self, target: Target) -> None:
        """``Tortoise.init`` with naive datetimes (the tables store naive UTC); the defaults
        row's URL names no pool size (Tortoise's own: 1 to 5 connections)."""
        await Tortoise.init(
            db_url=target.tortoise_defaults_url if self.at_defaults else target.tortoise_url,
            modules={"models": [__name__]},
            use_tz=False,
            _enable_global_fallback=True,
        )

    async def stop(self) -> None:
        """Close Tortoise's connections."""
        await Tortoise.close_connections()

    def versions(self) -> dict[str, str]:
        """Tortoise's version."""
        return {"tortoise-orm": tortoise.__version__}

    async def handles(self, model: str, ids: list[Handle]) -> list[Handle]:
        """The objects, loaded with one query."""
        return list(await MODELS[model].filter(id__in=ids).order_by("id"))

    async def insert_one(self, model: str, row: dict[str, Any]) -> None:
        """A: ``Model.create(**row)``."""
        await MODELS[model].create(**row)

    async def insert_batch(self, model: str, rows: list[dict[str, Any]]) -> None:
        """B: ``Model.create`` per row inside ``in_transaction()``."""
        cls = MODELS[model]
        async with in_transaction():
            for row in rows:
                await cls.create(**row)

    async def insert_each(self, model: str, rows: list[dict[str, Any]]) -> None:
        """B-each: the same as B; ``create`` returns each object with its id."""
        await self.insert_batch(model, rows)

    async def bulk_insert(self, model: str, rows: list[dict[str, Any]]) -> None:
        """C: ``Model.bulk_create(objects, batch_size=1000)``."""
        cls = MODELS[model]
        await cls.bulk_create([cls(**row) for row in rows], batch_size=1000)

    async def filter_many(self, model: str, upto: int) -> int:
        """D: ``await Model.filter(id__lte=upto)``."""
        return len(await MODELS[model].filter(id__lte=upto))

    async def filter_page(self, model: str, item: tuple[int, int]) -> int:
        """E: ``filter(level=…).order_by("id").offset(…).limit(20)``."""
        level, offset = item
        return len(await MODELS[model].filter(level=level).order_by("id").offset(offset).limit(20))

    async def get(self, model: str, pk: int) -> int:
        """F: ``Model.get_or_none(id=pk)``."""
        return int(await MODELS[model].get_or_none(id=pk) is not None)

    async def values_dicts(self, model: str, upto: int) -> int:
        """G: ``.values(...)``."""
        return len(await MODELS[model].filter(id__lte=upto).values(*_COLUMNS))

    async def values_tuples(self, model: str, upto: int) -> int:
        """H: ``.values_list(...)``."""
        return len(await MODELS[model].filter(id__lte=upto).values_list(*_COLUMNS))

    async def update_whole(self, model: str, item: tuple[Any, dict[str, Any]]) -> None:
        """I: ``obj.update_from_dict(row)`` then ``save()``."""
        obj, row = item
        await obj.update_from_dict(row).save()

    async def update_field(self, model: str, item: tuple[Any, int]) -> None:
        """J: ``save(update_fields=["level"])``."""
        obj, level = item
        obj.level = level
        await obj.save(update_fields=["level"])

    async def update_by_key(self, model: str, item: tuple[int, int]) -> None:
        """J-query: ``Model.filter(id=pk).update(level=…)``."""
        pk, level = item
        await MODELS[model].filter(id=pk).update(level=level)

    async def delete_by_key(self, model: str, pk: int) -> None:
        """K-query: ``Model.filter(id=pk).delete()``."""
        await MODELS[model].filter(id=pk).delete()

    async def delete(self, model: str, obj: Any) -> None:
        """K: ``obj.delete()``."""
        await obj.delete()

    async def eager(self, model: str, parents: int) -> int:
        """``Parent.all().prefetch_related("children")``."""
        loaded = await Parent.all().prefetch_related("children")
        return len(loaded) + sum(len(p.children) for p in loaded)

    async def upsert(self, model: str, rows: list[dict[str, Any]]) -> None:
        """``bulk_create(objects, on_conflict=["key"], update_fields=[...])``."""
        cls = MODELS[model]
        await cls.bulk_create(
            [cls(**row) for row in rows], on_conflict=["key"], update_fields=["level", "text"]
        )

    async def count_exists(self, model: str, level: int) -> int:
        """``count()`` and ``exists()``."""
        query = MODELS[model].filter(level=level)
        total = await query.count()
        await query.exists()
        return int(total)

    async def page_offset(self, model: str, page: int) -> int:
        """``count()`` plus ``order_by("id").offset(…).limit(20)``."""
        cls = MODELS[model]
        await cls.all().count()
        return len(await cls.all().order_by("id").offset((page - 1) * 20).limit(20))

    async def page_cursor(self, model: str, pages: int) -> int:
        """Walk keyset pages: ``filter(id__gt=last).order_by("id").limit(21)``."""
        cls, last, seen = MODELS[model], 0, 0
        for _ in range(pages):
            rows = list(await cls.filter(id__gt=last).order_by("id").limit(21))[:20]
            seen += len(rows)
            last = rows[-1].id
        return seen
