"""in_bulk (rows by many keys) and bulk_update (objects written back in one executemany)."""

from __future__ import annotations

import decimal
from typing import Any

import pytest
from sqlalchemy import delete, inspect, update

from sqlrecord import Database
from sqlrecord.exceptions import (
    DuplicateKeyError,
    InvalidFieldError,
    InvalidValueError,
    NotLoadedError,
    ProtectedFieldError,
    StaleObjectError,
)

from .helpers import StatementLog, count_rows, fetch_column
from .models import Animal, Article, Dog, Invoice, Membership, Note, Oddity, Post, User


def updates(log: StatementLog) -> list[str]:
    return [sql for sql in log.statements if sql.lstrip().upper().startswith("UPDATE")]


def selects(log: StatementLog) -> list[str]:
    return [sql for sql in log.statements if sql.lstrip().upper().startswith("SELECT")]


async def make_users(count: int) -> list[User]:
    rows = [{"email": f"u{n}@example.com", "age": n} for n in range(count)]
    await User.bulk_create(rows)
    return await User.order_by("id").all()


def pending(obj: Any, name: str) -> bool:
    return bool(inspect(obj).attrs[name].history.has_changes())


# -- in_bulk -------------------------------------------------------------------


async def test_in_bulk_by_primary_key_in_the_order_given(db: Database) -> None:
    a, _, c = await make_users(3)
    found = await User.in_bulk([c.id, a.id, 404, c.id])
    assert list(found) == [c.id, a.id]
    assert [user.email for user in found.values()] == [c.email, a.email]
    assert all(type(key) is int for key in found)


async def test_in_bulk_applies_the_query_filters(db: Database) -> None:
    a, b, c = await make_users(3)
    found = await User.filter_by(age__gte=1).in_bulk([a.id, b.id, c.id])
    assert list(found) == [b.id, c.id]
    assert await User.exclude(age__gte=0).in_bulk([a.id]) == {}


async def test_in_bulk_by_another_unique_field(db: Database) -> None:
    users = await make_users(2)
    by_name = await User.in_bulk(["u1@example.com", "nobody@example.com"], field="email")
    assert list(by_name) == ["u1@example.com"] and by_name["u1@example.com"].id == users[1].id
    typed = await User.in_bulk(["u0@example.com"], field=User.email)
    assert typed["u0@example.com"].id == users[0].id


@pytest.mark.parametrize(
    ("field", "message"),
    [
        ("name", "is not unique"),
        ("nope", "is not a column"),
        ("posts", "is not a column"),
        ("__class__", "is not a column"),
        ("display_name", "is not a column"),
        ("email; DROP TABLE test_users", "is not a column"),
    ],
)
async def test_in_bulk_refuses_fields_that_are_not_unique_columns(
    db: Database, field: str, message: str
) -> None:
    with StatementLog(db) as log, pytest.raises(InvalidFieldError, match=message) as caught:
        await User.in_bulk([1], field=field)
    assert log.statements == []
    assert list(caught.value.valid) == ["id", "email"]


@pytest.mark.parametrize(
    "ids",
    [["1"], [1, None], [True], [2**63], [1.5], "123", 7, {"id": 1}],
    ids=["text", "none", "bool", "out-of-range", "float", "a-string", "an-int", "a-dict"],
)
async def test_in_bulk_checks_every_id_before_sql(db: Database, ids: Any) -> None:
    with StatementLog(db) as log, pytest.raises(InvalidValueError):
        await User.in_bulk(ids)
    assert log.statements == []


async def test_in_bulk_of_nothing_sends_nothing(db: Database) -> None:
    with StatementLog(db) as log:
        assert await User.in_bulk([]) == {}
        assert await User.filter_by(age=3).in_bulk(iter(())) == {}
    assert log.statements == []


async def test_in_bulk_refuses_a_shape_it_would_ignore(db: Database) -> None:
    with StatementLog(db) as log:
        with pytest.raises(TypeError, match="ordering"):
            await User.order_by("-id").in_bulk([1])
        with pytest.raises(TypeError, match="limit"):
            await User.filter_by().limit(2).in_bulk([1])
    assert log.statements == []


async def test_in_bulk_leaves_soft_deleted_rows_out(db: Database) -> None:
    kept = await Article.create(slug="kept")
    gone = await Article.create(slug="gone")
    await gone.delete()
    assert list(await Article.in_bulk([kept.id, gone.id])) == [kept.id]
    assert list(await Article.with_deleted().in_bulk([kept.id, gone.id])) == [kept.id, gone.id]
    assert list(await Article.in_bulk(["gone", "kept"], field="slug")) == ["kept"]


async def test_in_bulk_with_a_composite_key_takes_and_gives_tuples(db: Database) -> None:
    await Membership.bulk_create([{"group": "a", "member": n} for n in range(3)])
    found = await Membership.in_bulk([("a", 2), ["a", 0], ("b", 0)])
    assert list(found) == [("a", 2), ("a", 0)]
    assert found["a", 0].member == 0
    for wrong in ([("a",)], ["a"], [("a", "zero")]):
        with StatementLog(db) as log, pytest.raises(InvalidValueError):
            await Membership.in_bulk(wrong)
        assert log.statements == []
    with pytest.raises(InvalidFieldError, match="unique on its own"):
        await Membership.in_bulk(["a"], field="group")


async def test_in_bulk_with_inheritance(db: Database) -> None:
    cat = await Animal.create(kind="animal", name="cat")
    dog = await Dog.create(name="rex", licence="L-1")
    assert list(await Dog.in_bulk([cat.id, dog.id])) == [dog.id]
    everyone = await Animal.in_bulk([cat.id, dog.id])
    assert type(everyone[dog.id]) is Dog and type(everyone[cat.id]) is Animal
    assert list(await Dog.in_bulk(["L-1"], field="licence")) == ["L-1"]


async def test_in_bulk_loads_relationships_as_asked(db: Database) -> None:
    users = await make_users(2)
    await Post.bulk_create([{"title": f"p{n}", "author_id": users[0].id} for n in range(3)])
    for strategy in ("joined", "selectin"):
        found = await User.load("posts", strategy=strategy).in_bulk([users[0].id, users[1].id])
        assert [len(user.posts) for user in found.values()] == [3, 0]


async def test_in_bulk_gives_the_sessions_own_objects(db: Database) -> None:
    (user,) = await make_users(1)
    async with db.transaction():
        held = await User.get_or_fail(user.id)
        held.name = "in memory"
        found = await User.in_bulk([user.id])
        assert found[user.id] is held and held.name == "in memory"
        fresh = await User.filter_by().populate_existing().in_bulk([user.id])
        assert fresh[user.id] is held and held.name is None


async def test_in_bulk_sends_forty_thousand_ids_in_batches(db: Database) -> None:
    users = await make_users(30)
    wanted = [user.id for user in users[::3]]
    ids = [*range(10_000_000, 10_040_000 - len(wanted)), *wanted]
    assert len(ids) == 40_000
    with StatementLog(db) as log:
        found = await User.filter_by(age__lt=100).in_bulk(ids)
    assert list(found) == wanted
    assert len(selects(log)) >= 8  # no statement over a database's parameter cap


async def test_in_bulk_sends_many_composite_keys_in_batches(db: Database) -> None:
    await Membership.bulk_create([{"group": "g", "member": n} for n in range(5)])
    keys = [("g", n) for n in range(20_000)]
    with StatementLog(db) as log:
        found = await Membership.in_bulk(keys)
    assert list(found) == [("g", n) for n in range(5)]
    assert len(selects(log)) >= 4


# -- bulk_update: what it writes ---------------------------------------------------


async def test_bulk_update_writes_the_fields_in_one_executemany(db: Database) -> None:
    users = await make_users(3)
    before = {user.id: user.updated_at for user in users}
    for n, user in enumerate(users):
        user.name = f"N{n}"
        user.age = None if n == 1 else 40 + n
        user.email = f"changed{n}@example.com"  # a change bulk_update does not send
    with StatementLog(db) as log:
        assert await User.bulk_update(users, ["name", User.age]) == 3
    assert len(updates(log)) == 1 and "email" not in updates(log)[0]
    stored = await User.filter_by().order_by("id").values("name", "age", "email", "updated_at")
    assert [(row["name"], row["age"]) for row in stored] == [("N0", 40), ("N1", None), ("N2", 42)]
    assert [row["email"] for row in stored] == [f"u{n}@example.com" for n in range(3)]
    for user, row in zip(users, stored, strict=True):
        assert not pending(user, "name") and not pending(user, "age")
        assert pending(user, "email")  # still the caller's change to save
        assert user.updated_at == row["updated_at"] >= before[user.id]


async def test_bulk_update_of_a_thousand_objects_in_batches(db: Database) -> None:
    users = await make_users(1000)
    for user in users:
        user.age = user.age * 2
    with StatementLog(db) as log:
        assert await User.bulk_update(users, ["age"], batch_size=300) == 1000
    assert len(updates(log)) == 4
    ages = await fetch_column(db, User, "age")
    assert ages == [n * 2 for n in range(1000)]


async def test_bulk_update_counts_each_row_once(db: Database) -> None:
    (user,) = await make_users(1)
    user.name = "once"
    assert await User.bulk_update([user, user], ["name"]) == 1


async def test_bulk_update_of_nothing_sends_nothing(db: Database) -> None:
    with StatementLog(db) as log:
        assert await User.bulk_update([], ["name"]) == 0
        assert await Invoice.using(auto_commit=True).bulk_update(iter(()), ["amount"]) == 0
    assert log.statements == []


async def test_bulk_update_bumps_and_checks_versions(db: Database) -> None:
    await Invoice.bulk_create([{"number": f"I-{n}"} for n in range(5)])
    invoices = await Invoice.order_by("id").all()
    for invoice in invoices:
        invoice.amount = 10
    with StatementLog(db) as log:
        assert await Invoice.bulk_update(invoices, ["amount"]) == 5
    assert len(updates(log)) == 1  # one executemany, versioned or not
    assert await fetch_column(db, Invoice, "version") == [2] * 5
    assert [invoice.version for invoice in invoices] == [2] * 5
    invoices[0].amount = 11
    await invoices[0].save()  # the object's version matches its row's
    assert invoices[0].version == 3


async def test_a_stale_object_among_many_writes_nothing(db: Database) -> None:
    await Invoice.bulk_create([{"number": f"I-{n}"} for n in range(100)])
    invoices = await Invoice.order_by("id").all()
    elsewhere = await Invoice.get_or_fail(invoices[57].id)
    await elsewhere.update(amount=1)  # another writer saves it first
    for invoice in invoices:
        invoice.amount = 99
    with StatementLog(db) as log, pytest.raises(StaleObjectError) as caught:
        await Invoice.bulk_update(invoices, ["amount"])
    assert f"id={invoices[57].id}" in str(caught.value)
    assert updates(log) == []  # checked before writing
    assert sorted(await fetch_column(db, Invoice, "amount")) == [0] * 99 + [1]
    assert all(pending(invoice, "amount") and invoice.version == 1 for invoice in invoices)


async def test_a_vanished_row_writes_nothing(db: Database) -> None:
    users = await make_users(4)
    async with db.sessionmaker() as session:
        await session.execute(delete(User).where(User.id == users[2].id))
        await session.commit()
    for user in users:
        user.name = "new"
    with pytest.raises(StaleObjectError, match=f"id={users[2].id}"):
        await User.bulk_update(users, ["name"])
    assert await fetch_column(db, User, "name") == [None] * 3


async def test_a_failed_write_leaves_nothing_and_the_changes_pending(db: Database) -> None:
    users = await make_users(3)
    users[0].email, users[2].email = "dup@example.com", "dup@example.com"
    users[1].name = "B"
    with pytest.raises(DuplicateKeyError):
        await User.bulk_update(users, ["email", "name"])
    assert await fetch_column(db, User, "name") == [None] * 3
    assert pending(users[0], "email") and pending(users[1], "name")
    assert users[0].email == "dup@example.com"


async def test_onupdate_values_are_read_back(db: Database) -> None:
    await Invoice.create(number="I-1")
    (invoice,) = await Invoice.all()
    stored = invoice.updated_at
    invoice.amount = 5
    await Invoice.bulk_update([invoice], ["amount"])
    (row,) = await Invoice.filter_by().values("updated_at", "version")
    assert invoice.updated_at == row["updated_at"] >= stored
    assert invoice.version == row["version"] == 2


# -- bulk_update: sessions -------------------------------------------------------


async def test_in_a_served_unit_only_the_executemany_writes(db: Database) -> None:
    await make_users(3)
    async with db.transaction():
        users = await User.order_by("id").all()
        for user in users:
            user.name = "served"
        with StatementLog(db) as log:
            assert await User.bulk_update(users, ["name"]) == 3
        assert len(updates(log)) == 1  # no flush of the objects one by one
        assert all(not pending(user, "name") for user in users)
        assert await count_rows(db, User, name="served") == 0  # not committed yet
    assert await count_rows(db, User, name="served") == 3


async def test_a_stale_write_in_a_served_unit_undoes_only_itself(db: Database) -> None:
    await Invoice.create(number="I-1")
    (invoice,) = await Invoice.all()
    async with db.sessionmaker() as other:  # another writer saves it after it was loaded
        await other.execute(update(Invoice).values(version=Invoice.version + 1))
        await other.commit()
    async with db.transaction():
        await Invoice.create(number="I-2")  # earlier work of the unit
        invoice.amount = 7
        with pytest.raises(StaleObjectError):
            await Invoice.bulk_update([invoice], ["amount"])
        assert invoice.version == 1 and pending(invoice, "amount")
    assert sorted(await fetch_column(db, Invoice, "number")) == ["I-1", "I-2"]
    assert await fetch_column(db, Invoice, "amount") == [0, 0]


async def test_using_a_session_with_and_without_auto_commit(db: Database) -> None:
    users = await make_users(2)
    for user in users:
        user.name = "kept"
    async with db.sessionmaker() as session:
        assert await User.using(session).bulk_update(users, ["name"]) == 2
        assert await count_rows(db, User, name="kept") == 0  # the caller commits
        await session.rollback()
    assert await count_rows(db, User, name="kept") == 0
    async with db.sessionmaker() as session:
        await User.using(session, auto_commit=True).bulk_update(users, ["name"])
        assert await count_rows(db, User, name="kept") == 2


async def test_the_sessions_own_copy_of_a_row_follows(db: Database) -> None:
    (user,) = await make_users(1)  # loaded elsewhere: detached
    async with db.transaction() as session:
        held = await User.get_or_fail(user.id)
        user.name = "from elsewhere"
        await User.using(session).bulk_update([user], ["name"])
        assert held.name == "from elsewhere" and not pending(held, "name")
        assert held.updated_at == user.updated_at


async def test_a_model_level_query_with_a_shape_is_refused(db: Database) -> None:
    with pytest.raises(TypeError, match="filters"):
        await User.filter_by(name="x").bulk_update([], ["name"])


# -- bulk_update: checks before SQL -------------------------------------------------


@pytest.mark.parametrize(
    ("field", "error", "message"),
    [
        ("is_admin", ProtectedFieldError, "protected"),
        ("status", ProtectedFieldError, "protected"),
        ("updated_at", ProtectedFieldError, "protected"),
        ("id", InvalidFieldError, "primary key"),
        ("created_at", InvalidFieldError, "not a settable"),
        ("__class__", InvalidFieldError, "not a settable"),
        ("__dict__", InvalidFieldError, "not a settable"),
        ("batch_size", InvalidFieldError, "not a settable"),
        ("auto_commit", InvalidFieldError, "not a settable"),
        ("allow_protected", InvalidFieldError, "not a settable"),
        ("session", InvalidFieldError, "not a settable"),
        ("posts", InvalidFieldError, "not a settable"),
        ("display_name", InvalidFieldError, "not a settable"),
        ("name = 'x' --", InvalidFieldError, "not a settable"),
    ],
)
async def test_fields_from_a_request_are_refused(
    db: Database, field: str, error: type[Exception], message: str
) -> None:
    (user,) = await make_users(1)
    with StatementLog(db) as log, pytest.raises(error, match=message):
        await User.bulk_update([user], ["name", field])
    assert log.statements == []
    assert await fetch_column(db, User, "is_admin") == [False]


async def test_a_protected_field_trusted_by_code(db: Database) -> None:
    users = await make_users(2)
    for user in users:
        user.is_admin = True
    assert await User.using(allow_protected={"is_admin"}).bulk_update(users, ["is_admin"]) == 2
    assert await fetch_column(db, User, "is_admin") == [True, True]


@pytest.mark.parametrize(
    "fields",
    ["name", [], None, [None], [Post.title]],
    ids=["str", "empty", "none", "none-in", "other-model"],
)
async def test_malformed_fields_are_refused(db: Database, fields: Any) -> None:
    (user,) = await make_users(1)
    with StatementLog(db) as log, pytest.raises(InvalidValueError):
        await User.bulk_update([user], fields)
    assert log.statements == []


async def test_objects_are_checked_before_sql(db: Database) -> None:
    users = await make_users(2)
    copy = await User.get_or_fail(users[0].id)
    removed = await User.create(email="gone@example.com")
    await removed.delete()
    cases: list[tuple[list[Any], type[Exception], str]] = [
        ([users[0], User(email="new@example.com")], InvalidValueError, "never saved"),
        ([users[0], removed], InvalidValueError, "was deleted"),
        ([users[0], Post(title="x")], InvalidValueError, "takes User objects"),
        ([users[0], {"id": 1, "name": "x"}], InvalidValueError, "takes User objects"),
        ([users[0], copy], InvalidValueError, "two different objects"),
    ]
    for objs, error, message in cases:
        with StatementLog(db) as log, pytest.raises(error, match=message):
            await User.bulk_update(objs, ["name"])
        assert log.statements == []
    with pytest.raises(InvalidValueError, match="batch_size"):
        await User.bulk_update(users, ["name"], batch_size=0)


@pytest.mark.parametrize(
    ("value", "message"),
    [("old", "takes int"), (2**40, "out of range"), (User.age + 1, "SQL expression")],
    ids=["text", "range", "expression"],
)
async def test_values_are_checked_before_sql(db: Database, value: Any, message: str) -> None:
    users = await make_users(2)
    users[1].age = value
    with StatementLog(db) as log, pytest.raises(InvalidValueError, match=message):
        await User.bulk_update(users, ["age"])
    assert log.statements == []
    assert pending(users[1], "age")


async def test_a_field_not_loaded_is_refused(db: Database) -> None:
    await make_users(1)
    async with db.transaction() as session:
        (user,) = await User.all()
        session.expire(user, ["name"])
        with pytest.raises(NotLoadedError, match="not loaded"):
            await User.bulk_update([user], ["name"])


# -- bulk_update: models ---------------------------------------------------------


async def test_inheritance_updates_each_table_of_the_fields(db: Database) -> None:
    cat = await Animal.create(kind="animal", name="cat")
    dogs = [await Dog.create(name=f"d{n}", licence=f"L-{n}") for n in range(2)]
    for n, dog in enumerate(dogs):
        dog.name, dog.licence = f"dog{n}", f"LIC-{n}"
    assert await Dog.bulk_update(dogs, ["name", "licence"]) == 2
    assert await Dog.order_by("id").values_list("name", "licence") == [
        ("dog0", "LIC-0"),
        ("dog1", "LIC-1"),
    ]
    cat.name = "kitty"
    dogs[0].name = "rex"
    assert await Animal.bulk_update([cat, dogs[0]], ["name"]) == 2  # a subclass is one
    assert await fetch_column(db, Animal, "name") == ["dog1", "kitty", "rex"]
    with pytest.raises(InvalidValueError, match="takes Dog objects"):
        await Dog.bulk_update([cat], ["name"])
    with pytest.raises(InvalidFieldError):
        await Animal.bulk_update([cat], ["licence"])


async def test_composite_keys_and_odd_column_names(db: Database) -> None:
    await Membership.bulk_create([{"group": "g", "member": n} for n in range(3)])
    members = await Membership.order_by("member").all()
    for member in members:
        member.role = f"r{member.member}"
    assert await Membership.bulk_update(members, ["role"]) == 3
    assert await Membership.order_by("member").values_list("role", flat=True) == ["r0", "r1", "r2"]
    await Oddity.bulk_create([{"full_name": "a"}, {"full_name": "b"}])
    odd = await Oddity.order_by("id").all()
    for oddity in odd:
        oddity.full_name, oddity.rate, oddity.active = (
            oddity.full_name * 2,
            decimal.Decimal("1.25"),
            False,
        )
    assert await Oddity.bulk_update(odd, ["full_name", "rate", "active"]) == 2
    assert await Oddity.order_by("id").values_list("full_name", "rate", "active") == [
        ("aa", decimal.Decimal("1.25"), False),
        ("bb", decimal.Decimal("1.25"), False),
    ]


async def test_a_plain_model_without_onupdate_columns(db: Database) -> None:
    await Note.bulk_create([{"text": "a"}, {"text": "b", "code": "B"}])
    notes = await Note.order_by("id").all()
    notes[0].code, notes[1].code = "A", None
    with StatementLog(db) as log:
        assert await Note.bulk_update(notes, ["code"]) == 2
    # Nothing to read back; the rows are checked first only where the driver cannot count
    # an executemany's rows (asyncpg), else by the UPDATE's own count.
    checked = not db.engine.dialect.supports_sane_multi_rowcount
    assert len(selects(log)) == (1 if checked else 0)
    assert await Note.order_by("id").values_list("code", flat=True) == ["A", None]
