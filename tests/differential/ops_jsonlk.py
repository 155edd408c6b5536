"""Lookups, values and ordering inside ``Ticket.payload`` (JSON), next to the SQLAlchemy
JSON expressions a team writes for each database: ``jsonb`` operators on PostgreSQL,
``json_type``/``json_extract`` on SQLite, ``JSON_TYPE``/``JSON_EXTRACT``/``JSON_CONTAINS``
on MariaDB, each with the type check that keeps ``true`` apart from ``1``.

The seed's tickets (``seed.JSON_TICKETS``) hold strings, numbers, booleans, ``null``,
nested objects, arrays and missing keys."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import and_, case, cast, exists, func, literal, not_, or_, select
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import ColumnElement

from .harness import Op
from .models import Ticket
from .ops_query import objects, q, read_op

Build = Callable[[str], Any]  # dialect name -> SQL expression


def _dialect(s: AsyncSession) -> str:
    name = s.get_bind().dialect.name
    return "mariadb" if name in ("mysql", "mariadb") else name


def _jsonb() -> Any:
    return cast(Ticket.payload, JSONB)


def _path(*keys: str) -> str:
    return "$" + "".join(f'."{key}"' for key in keys)


def kind_is(dialect: str, kinds: dict[str, tuple[str, ...]], *keys: str) -> ColumnElement[bool]:
    """The value at ``keys`` has one of the dialect's own type names."""
    if dialect == "postgresql":
        return func.jsonb_typeof(_jsonb()[keys]).in_(kinds["postgresql"])
    if dialect == "sqlite":
        return func.json_type(Ticket.payload, _path(*keys)).in_(kinds["sqlite"])
    return func.json_type(func.json_extract(Ticket.payload, _path(*keys))).in_(kinds["mariadb"])


STRING = {"postgresql": ("string",), "sqlite": ("text",), "mariadb": ("STRING",)}
NUMBER = {
    "postgresql": ("number",),
    "sqlite": ("integer", "real"),
    "mariadb": ("INTEGER", "DOUBLE"),
}
NULL = {"postgresql": ("null",), "sqlite": ("null",), "mariadb": ("NULL",)}


def text_at(dialect: str, *keys: str) -> Any:
    """A string value (NULL for other kinds), compared by code point everywhere."""
    if dialect == "postgresql":
        text = _jsonb()[keys].astext.collate("C")
    elif dialect == "sqlite":
        text = func.json_extract(Ticket.payload, _path(*keys))
    else:  # JSON_UNQUOTE gives utf8mb4_bin, which pads with spaces: compare without
        unquoted = func.json_unquote(func.json_extract(Ticket.payload, _path(*keys)))
        text = unquoted.collate("utf8mb4_nopad_bin")
    return case((kind_is(dialect, STRING, *keys), text), else_=None)


def number_at(dialect: str, key: str) -> Any:
    """A number value (NULL for other kinds): SQLAlchemy's ``as_float()`` behind a type check."""
    return case((kind_is(dialect, NUMBER, key), Ticket.payload[key].as_float()), else_=None)


def string_equals(dialect: str, value: str, *keys: str) -> ColumnElement[bool]:
    return text_at(dialect, *keys) == value


def json_true(dialect: str, key: str) -> ColumnElement[bool]:
    if dialect == "postgresql":
        return _jsonb()[key] == cast(literal("true"), JSONB)
    if dialect == "sqlite":  # json_extract gives 1 for true and for 1: ask json_type
        return func.json_type(Ticket.payload, _path(key)) == "true"
    extracted = func.json_extract(Ticket.payload, _path(key))
    return and_(func.json_type(extracted) == "BOOLEAN", extracted == "true")


def has_key(dialect: str, key: str) -> ColumnElement[bool]:
    if dialect == "postgresql":
        return _jsonb().has_key(key)
    if dialect == "sqlite":
        return func.json_type(Ticket.payload, _path(key)).is_not(None)
    return func.json_contains_path(Ticket.payload, "one", _path(key)) == 1


def contains_ui_dark(dialect: str) -> ColumnElement[bool]:
    if dialect == "postgresql":
        return _jsonb().contains({"ui": {"theme": "dark"}})
    if dialect == "sqlite":
        return string_equals(dialect, "dark", "ui", "theme")
    return func.json_contains(Ticket.payload, '{"ui": {"theme": "dark"}}') == 1


def tags_have_x(dialect: str) -> ColumnElement[bool]:
    if dialect == "postgresql":
        return _jsonb()["tags"].contains(["x"])
    if dialect == "sqlite":
        each = func.json_each(Ticket.payload, "$.tags").table_valued("value", "type")
        return and_(
            func.json_type(Ticket.payload, "$.tags") == "array",
            exists().where(each.c.type == "text", each.c.value == "x"),
        )
    tags = func.json_extract(Ticket.payload, "$.tags")
    return and_(func.json_type(tags) == "ARRAY", func.json_contains(tags, '["x"]') == 1)


def tickets(where: Build) -> Callable[[AsyncSession], Any]:
    async def read(s: AsyncSession) -> list[Any]:
        statement = select(Ticket).where(where(_dialect(s))).order_by(Ticket.title)
        return await objects(s, statement)

    return read


async def orm_values(s: AsyncSession) -> list[tuple[Any, ...]]:
    # What a team selects: the JSON index, decoded by the JSON type.
    statement = select(Ticket.title, Ticket.payload["theme"], Ticket.payload["ui"])
    return [tuple(row) for row in await s.execute(statement.order_by(Ticket.title))]


async def orm_ordered(s: AsyncSession) -> list[Any]:
    # Numbers by value, then strings by code point, then the rest: a team's two terms.
    dialect = _dialect(s)
    number, text = number_at(dialect, "count"), text_at(dialect, "count")
    statement = select(Ticket.title).order_by(
        number.is_(None), number, text.is_(None), text, Ticket.title
    )
    return list((await s.scalars(statement)).all())


JSONLK_OPS: list[Op] = [
    read_op(
        "json_eq_string[Ticket]",
        lambda side: q(side, Ticket.filter_by(payload__theme="dark").order_by("title")).all(),
        tickets(lambda d: string_equals(d, "dark", "theme")),
    ),
    read_op(
        "json_nested[Ticket]",
        lambda side: q(side, Ticket.filter_by(payload__ui__theme="dark").order_by("title")).all(),
        tickets(lambda d: string_equals(d, "dark", "ui", "theme")),
    ),
    read_op(
        "json_in[Ticket]",
        lambda side: q(
            side, Ticket.filter_by(payload__theme__in=["dark", "light"]).order_by("title")
        ).all(),
        tickets(
            lambda d: or_(string_equals(d, "dark", "theme"), string_equals(d, "light", "theme"))
        ),
    ),
    read_op(
        "json_number_gte[Ticket]",
        lambda side: q(side, Ticket.filter_by(payload__count__gte=2).order_by("title")).all(),
        tickets(lambda d: and_(kind_is(d, NUMBER, "count"), number_at(d, "count") >= 2)),
    ),
    read_op(
        "json_true[Ticket]",
        lambda side: q(side, Ticket.filter_by(payload__beta=True).order_by("title")).all(),
        tickets(lambda d: json_true(d, "beta")),
    ),
    read_op(
        "json_null[Ticket]",
        lambda side: q(side, Ticket.filter_by(payload__theme=None).order_by("title")).all(),
        tickets(lambda d: kind_is(d, NULL, "theme")),
    ),
    read_op(
        "json_missing[Ticket]",
        lambda side: q(side, Ticket.filter_by(payload__theme__isnull=True).order_by("title")).all(),
        tickets(lambda d: not_(has_key(d, "theme"))),
    ),
    read_op(
        "json_has_key[Ticket]",
        lambda side: q(side, Ticket.filter_by(payload__has_key="theme").order_by("title")).all(),
        tickets(lambda d: has_key(d, "theme")),
    ),
    read_op(
        "json_contains[Ticket]",
        lambda side: q(
            side, Ticket.filter_by(payload__contains={"ui": {"theme": "dark"}}).order_by("title")
        ).all(),
        tickets(contains_ui_dark),
    ),
    read_op(
        "json_contains_array[Ticket]",
        lambda side: q(
            side, Ticket.filter_by(payload__tags__contains=["x"]).order_by("title")
        ).all(),
        tickets(tags_have_x),
    ),
    read_op(
        "json_values[Ticket]",
        lambda side: q(side, Ticket.order_by("title")).values_list(
            "title", "payload__theme", "payload__ui"
        ),
        orm_values,
    ),
    read_op(
        "json_order[Ticket]",
        lambda side: q(side, Ticket.order_by("payload__count", "title")).values_list(
            "title", flat=True
        ),
        orm_ordered,
    ),
]
