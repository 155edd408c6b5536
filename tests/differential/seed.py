"""The rows every side starts from, written with Core (no ORM hook fires) on the
reader's connection after every catalogue table was emptied.

Seeded rows take explicit ids far above any the database hands out (a sequence or
counter never reaches them, and the rows are gone before they are written again),
so seeding is one executemany per table."""

from __future__ import annotations

import decimal
import uuid
from typing import Any

from sqlalchemy import delete, insert
from sqlalchemy.ext.asyncio import AsyncConnection

from .models import (
    Account,
    Animal,
    Item,
    Kid,
    Membership,
    Parent,
    Post,
    Priority,
    Tag,
    Ticket,
    Token,
    Truck,
    Vehicle,
    post_tags,
)
from .observe import TABLES

BASE = 1_000_000_000
TOKEN = uuid.UUID("00000000-0000-4000-8000-000000000001")

KEYS: dict[str, Any] = {
    "item.kim": BASE + 1,
    "ticket.printer": BASE + 1,
    "account.kim": BASE + 1,
    "token.read": TOKEN,
    "dog.fido": BASE + 2,
    "truck.t1": BASE + 2,
    "parent.pa": BASE + 1,
    "post.hello": BASE + 1,
}

ROWS: list[tuple[Any, list[dict[str, Any]]]] = [
    (
        Item,
        [
            {"id": BASE + 1, "email": "kim@x.com", "hits": 3, "price": decimal.Decimal("1.50")},
            {
                "id": BASE + 2,
                "email": "lee@x.com",
                "state": "paid",
                "hits": 5,
                "price": decimal.Decimal("2.25"),
            },
            {"id": BASE + 3, "email": "ann@x.com", "hits": 0, "price": None},
        ],
    ),
    (
        Ticket,
        [
            {
                "id": BASE + 1,
                "title": "Broken printer",
                "priority": Priority.high,
                "payload": {"n": 1},
                "summary": "BROKEN PRINTER",
                "body": "Paper jam, again.",
            },
            {
                "id": BASE + 2,
                "title": "Slow wifi",
                "priority": Priority.low,
                "payload": {},
                "summary": None,
                "body": None,
            },
        ],
    ),
    (
        Account,
        [
            {"id": BASE + 1, "owner": "kim", "balance": 10, "version": 1},
            {"id": BASE + 2, "owner": "lee", "balance": 0, "version": 1},
        ],
    ),
    (Token, [{"id": TOKEN, "label": "t-read"}]),
    (
        Membership,
        [
            {"org": "acme", "member": "kim", "role": "member"},
            {"org": "acme", "member": "lee", "role": "admin"},
        ],
    ),
    (
        Animal,
        [
            {"id": BASE + 1, "name": "generic", "kind": "animal", "good": None},
            {"id": BASE + 2, "name": "fido", "kind": "dog", "good": True},
            {"id": BASE + 3, "name": "bolt", "kind": "dog", "good": False},
        ],
    ),
    (
        Vehicle,
        [
            {"id": BASE + 1, "plate": "V-1", "type": "vehicle"},
            {"id": BASE + 2, "plate": "T-1", "type": "truck"},
        ],
    ),
    (Truck, [{"id": BASE + 2, "capacity": decimal.Decimal("3.5")}]),
    (Parent, [{"id": BASE + 1, "name": "pa"}, {"id": BASE + 2, "name": "pb"}]),
    (
        Kid,
        [
            {"id": BASE + 1, "name": "k1", "parent_id": BASE + 1},
            {"id": BASE + 2, "name": "k2", "parent_id": BASE + 1},
            {"id": BASE + 3, "name": "k3", "parent_id": BASE + 2},
        ],
    ),
    (Tag, [{"id": BASE + n, "name": name} for n, name in enumerate("abc", 1)]),
    (Post, [{"id": BASE + 1, "title": "hello"}, {"id": BASE + 2, "title": "bye"}]),
    (
        post_tags,
        [
            {"post_id": BASE + 1, "tag_id": BASE + 1},
            {"post_id": BASE + 1, "tag_id": BASE + 2},
            {"post_id": BASE + 2, "tag_id": BASE + 2},
        ],
    ),
    # Varied payloads for the JSON lookups (ops_jsonlk): titles sort after the first two
    # tickets, so reads of "the first ticket" are unchanged.
    (
        Ticket,
        [
            {"id": BASE + 10 + n, "title": title, "priority": Priority.low, "payload": payload}
            for n, (title, payload) in enumerate(
                [
                    (
                        "Xj dark",
                        {
                            "theme": "dark",
                            "count": 3,
                            "beta": True,
                            "ui": {"theme": "dark"},
                            "tags": ["x", "y"],
                        },
                    ),
                    (
                        "Xj light",
                        {
                            "theme": "light",
                            "count": 1,
                            "beta": False,
                            "ui": {"theme": "light", "size": 2},
                            "tags": ["y", 1],
                        },
                    ),
                    ("Xj null", {"theme": None, "count": 2.5, "beta": 1, "ui": {}}),
                    ("Xj odd", {"theme": "Dark", "count": "3", "tags": "x", "ui": None}),
                ]
            )
        ],
    ),
]


async def seed(connection: AsyncConnection) -> dict[str, Any]:
    """Empty the catalogue's tables and write the starting rows; returns their keys."""
    for table in reversed(TABLES):
        await connection.execute(delete(table))
    for target, rows in ROWS:
        table = getattr(target, "__table__", target)
        await connection.execute(insert(table), rows)
    return dict(KEYS)
