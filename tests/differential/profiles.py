"""Per-model inputs the generic operations need: values for a new row, a change to a
seeded row, how to find the seeded row, and a key that matches nothing."""

from __future__ import annotations

import decimal
import uuid
from dataclasses import dataclass
from typing import Any

from .models import Account, Dog, Item, Membership, Parent, Post, Priority, Ticket, Token, Truck


@dataclass(frozen=True)
class Profile:
    model: type[Any]
    new: dict[str, Any]
    change: dict[str, Any]
    unique: dict[str, Any]  # lookups that find the seeded row
    key: str | tuple[Any, ...]  # seed key name, or the literal primary key
    missing: Any  # a primary key no row has
    rows: tuple[dict[str, Any], ...] = ()  # for bulk_create: new rows only
    upsert: tuple[tuple[dict[str, Any], ...], tuple[str, ...], tuple[str, ...]] | None = None

    @property
    def name(self) -> str:
        return self.model.__name__

    def pk(self, keys: dict[str, Any]) -> Any:
        return self.key if isinstance(self.key, tuple) else keys[self.key]


PROFILES: dict[str, Profile] = {
    profile.name: profile
    for profile in (
        Profile(
            Item,
            new={"email": "New@X.com", "state": "new", "price": decimal.Decimal("3.5")},
            change={"state": "paid", "price": decimal.Decimal("9.9")},
            unique={"email": "kim@x.com"},
            key="item.kim",
            missing=987654,
            rows=({"email": "ZED@X.COM"}, {"email": "amy@x.com", "hits": 4, "code": "Qx"}),
            upsert=(
                ({"email": "kim@x.com", "hits": 9}, {"email": "neo@x.com", "hits": 1}),
                ("email",),
                ("hits",),
            ),
        ),
        Profile(
            Ticket,
            new={"title": "Door stuck", "priority": Priority.high, "payload": {"a": [1, 2]}},
            change={"priority": Priority.low, "title": "Printer fixed"},
            unique={"title": "Broken printer"},
            key="ticket.printer",
            missing=987654,
            rows=(
                {"title": "One", "priority": Priority.low},
                {"title": "Two", "priority": Priority.high},
            ),
            upsert=(
                (
                    {"title": "Broken printer", "priority": Priority.low},
                    {"title": "Fresh", "priority": Priority.high},
                ),
                ("title",),
                ("priority",),
            ),
        ),
        Profile(
            Account,
            new={"owner": "zed", "balance": 5},
            change={"balance": 7},
            unique={"owner": "kim"},
            key="account.kim",
            missing=987654,
            rows=({"owner": "amy", "balance": 1}, {"owner": "bob"}),
            upsert=(
                ({"owner": "kim", "balance": 3}, {"owner": "neo", "balance": 1}),
                ("owner",),
                ("balance",),
            ),
        ),
        Profile(
            Token,
            new={"label": "t-new"},
            change={"label": "t-renamed"},
            unique={"label": "t-read"},
            key="token.read",
            missing=uuid.UUID(int=7),
        ),
        Profile(
            Membership,
            new={"org": "acme", "member": "zoe"},
            change={"role": "admin"},
            unique={"org": "acme", "member": "kim"},
            key=("acme", "kim"),
            missing=("acme", "nobody"),
            rows=({"org": "beta", "member": "kim"}, {"org": "beta", "member": "lee", "role": "x"}),
        ),
        Profile(
            Dog,
            new={"name": "rex", "good": False},
            change={"good": False},
            unique={"name": "fido"},
            key="dog.fido",
            missing=987654,
            rows=({"name": "max"}, {"name": "lou", "good": False}),
            upsert=(
                ({"name": "fido", "good": False}, {"name": "rex", "good": True}),
                ("name",),
                ("good",),
            ),
        ),
        Profile(
            Truck,
            new={"plate": "T-9", "capacity": decimal.Decimal("1.25")},
            change={"capacity": decimal.Decimal("2.5"), "plate": "T-2"},
            unique={"plate": "T-1"},
            key="truck.t1",
            missing=987654,
        ),
        Profile(
            Parent,
            new={"name": "pc"},
            change={"name": "pz"},
            unique={"name": "pa"},
            key="parent.pa",
            missing=987654,
        ),
        Profile(
            Post,
            new={"title": "p-new"},
            change={"title": "p-x"},
            unique={"title": "hello"},
            key="post.hello",
            missing=987654,
        ),
    )
}


def profiles(*names: str) -> list[Profile]:
    return [PROFILES[name] for name in names]


ALL = tuple(PROFILES)
