"""F expressions: filters comparing columns, atomic updates by query and by object.

Every database gives the same rows and the same values; names and kinds are
checked before any SQL; nothing a request sends can become an expression.
"""

from __future__ import annotations

import datetime as dt
import decimal
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import Date, ForeignKey, Numeric, String, func, select
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from sqlrecord import (
    BaseModelMixin,
    Coalesce,
    Count,
    Database,
    F,
    Q,
    RequestFilters,
    VersionedMixin,
)
from sqlrecord._plan import Transaction
from sqlrecord.exceptions import (
    InvalidFieldError,
    InvalidValueError,
    ProtectedFieldError,
    StaleObjectError,
)

from .helpers import StatementLog
from .models import Article, Dog


class FxBase(DeclarativeBase):
    pass


class Shop(BaseModelMixin, FxBase):
    __tablename__ = "fx_shops"

    name: Mapped[str] = mapped_column(String(40))
    min_stock: Mapped[int] = mapped_column(default=0)
    opened_on: Mapped[dt.date | None] = mapped_column(Date)
    products: Mapped[list[Product]] = relationship(back_populates="shop", order_by="Product.id")


class Product(BaseModelMixin, FxBase):
    __tablename__ = "fx_products"
    __protected_attributes__ = frozenset({"rank"})

    name: Mapped[str] = mapped_column(String(40))
    label: Mapped[str | None] = mapped_column(String(40))
    stock: Mapped[int] = mapped_column(default=0)
    reserved: Mapped[int] = mapped_column(default=0)
    hits: Mapped[int | None]
    base: Mapped[int] = mapped_column(default=0)
    rank: Mapped[int] = mapped_column(default=0)
    price: Mapped[decimal.Decimal | None] = mapped_column(Numeric(10, 2))
    added_on: Mapped[dt.date | None] = mapped_column(Date)
    shop_id: Mapped[int | None] = mapped_column(ForeignKey("fx_shops.id"))
    shop: Mapped[Shop | None] = relationship(back_populates="products")


class Staff(BaseModelMixin, FxBase):
    """Self-referential: a manager is staff too."""

    __tablename__ = "fx_staff"

    name: Mapped[str] = mapped_column(String(40))
    salary: Mapped[int]
    manager_id: Mapped[int | None] = mapped_column(ForeignKey("fx_staff.id"))
    manager: Mapped[Staff | None] = relationship(remote_side="Staff.id", back_populates="reports")
    reports: Mapped[list[Staff]] = relationship(back_populates="manager", order_by="Staff.id")


class Counter(VersionedMixin, BaseModelMixin, FxBase):
    __tablename__ = "fx_counters"

    name: Mapped[str] = mapped_column(String(40))
    count: Mapped[int] = mapped_column(default=0)


@pytest.fixture
async def fx(db: Database) -> AsyncIterator[Database]:
    """The suite's ``db`` with this module's tables and rows."""
    async with db.engine.begin() as connection:
        await connection.run_sync(FxBase.metadata.drop_all)
        await connection.run_sync(FxBase.metadata.create_all)
    try:
        async with db.transaction():
            north = await Shop.create(name="north", min_stock=5, opened_on=dt.date(2020, 1, 1))
            south = await Shop.create(name="south", min_stock=1)
            rows: list[dict[str, Any]] = [
                # name, stock, reserved, hits, base, label, shop
                {"name": "apple", "stock": 3, "reserved": 5, "hits": 10, "base": 4, "shop": north},
                {"name": "pear", "stock": 8, "reserved": 2, "hits": 3, "base": 2, "label": "pear"},
                {"name": "plum", "stock": 2, "reserved": 2, "hits": None, "base": 1, "shop": south},
                {"name": "fig", "stock": 0, "reserved": 1, "hits": 9, "base": 5, "label": "F"},
            ]
            for row in rows:
                await Product.create(**row, added_on=dt.date(2021, 6, 1))
            boss = await Staff.create(name="boss", salary=100)
            lead = await Staff.create(name="lead", salary=120, manager=boss)
            await Staff.create(name="dev", salary=90, manager=lead)
            await Staff.create(name="star", salary=130, manager=lead)
            await Counter.create(name="c", count=1)
        yield db
    finally:
        async with db.engine.begin() as connection:
            await connection.run_sync(FxBase.metadata.drop_all)


async def names(query: Any) -> set[str]:
    return {row.name for row in await query.all()}


async def stored(db: Database, model: Any, name: str, column: str) -> Any:
    """A column's value as committed, read in a session of its own."""
    async with db.sessionmaker() as session:
        return await session.scalar(select(getattr(model, column)).filter_by(name=name))


# -- filters comparing columns --------------------------------------------------------


async def test_filter_compares_two_columns(fx: Database) -> None:
    assert await names(Product.filter_by(stock__lt=F("reserved"))) == {"apple", "fig"}
    assert await names(Product.filter_by(stock=F("reserved"))) == {"plum"}
    assert await names(Product.filter_by(stock__ne=F("reserved"))) == {"apple", "pear", "fig"}
    assert await names(Product.filter_by(stock__gte=F("reserved"))) == {"pear", "plum"}
    assert await names(Product.filter_by(stock__le=F("reserved"))) == {"apple", "plum", "fig"}


async def test_exclude_and_q_take_expressions(fx: Database) -> None:
    assert await names(Product.exclude(stock__lt=F("reserved"))) == {"pear", "plum"}
    either = Q(stock__lt=F("reserved")) | Q(name="pear")
    assert await names(Product.filter(either)) == {"apple", "fig", "pear"}
    assert await names(Product.filter(~Q(stock__lt=F("reserved")), Q(name="plum"))) == {"plum"}


async def test_exclude_keeps_rows_where_the_expression_is_null(fx: Database) -> None:
    # plum's hits are NULL: the comparison is unknown, so exclude() keeps the row.
    assert await names(Product.exclude(hits__gt=F("base") * 2)) == {"pear", "plum", "fig"}
    assert await names(Product.filter_by(hits__gt=F("base") * 2)) == {"apple"}


async def test_arithmetic_and_coalesce(fx: Database) -> None:
    assert await names(Product.filter_by(hits__gt=F("base") * 2)) == {"apple"}
    assert await names(Product.filter_by(stock__gte=F("reserved") - 1 + 0)) == {
        "pear",
        "plum",
        "fig",
    }
    assert await names(Product.filter_by(hits__lt=2 * F("base") - F("stock"))) == {"fig"}
    assert await names(Product.filter_by(stock=Coalesce(F("hits"), F("base"), 0) + 1)) == {"plum"}
    assert await names(Product.filter_by(name=Coalesce(F("label"), F("name")))) == {
        "apple",
        "pear",
        "plum",
    }


async def test_between_takes_expression_ends(fx: Database) -> None:
    query = Product.filter_by(hits__between=(F("stock"), F("reserved") * 5))
    assert await names(query) == {"apple"}
    assert await names(Product.filter_by(hits__between=(F("base"), 9))) == {"pear", "fig"}


async def test_lookup_through_a_relationship_compares_with_the_query_row(fx: Database) -> None:
    # Shops with a product below the *shop's* minimum stock.
    assert await names(Shop.filter_by(products__stock__lt=F("min_stock"))) == {"north"}
    # Products whose shop's minimum is above the *product's* stock.
    assert await names(Product.filter_by(shop__min_stock__gt=F("stock"))) == {"apple"}
    # Two lookups on one path share one EXISTS, the expression included.
    query = Shop.filter_by(products__stock__lt=F("min_stock"), products__name="plum")
    assert await names(query) == set()


async def test_self_referential_lookups_correlate_with_the_outer_row(fx: Database) -> None:
    # Staff paid more than their manager: the manager's salary inside the EXISTS,
    # the outer row's salary from the query.
    assert await names(Staff.filter_by(manager__salary__lt=F("salary"))) == {"lead", "star"}
    # Staff with a report paid more than themselves.
    assert await names(Staff.filter_by(reports__salary__gt=F("salary"))) == {"boss", "lead"}
    assert await names(Staff.filter_by(manager__manager__salary__gt=F("salary"))) == {"dev"}
    # A plain lookup next to it still reads the related row.
    query = Staff.filter_by(manager__salary__lt=F("salary"), manager__name="lead")
    assert await names(query) == {"star"}


async def test_f_through_to_one_relationships(fx: Database) -> None:
    assert await names(Product.filter_by(stock__lt=F("shop__min_stock"))) == {"apple"}
    # No shop: the value is NULL and the comparison never holds.
    assert await names(Product.filter_by(stock__gte=F("shop__min_stock"))) == {"plum"}
    assert await names(Staff.filter_by(salary__gt=F("manager__salary"))) == {"lead", "star"}
    assert await names(Staff.filter_by(salary__lt=F("manager__manager__salary"))) == {"dev"}
    query = Product.filter_by(added_on__gt=F("shop__opened_on"))
    assert await names(query) == {"apple"}


async def test_f_through_to_one_inside_a_relationship_lookup(fx: Database) -> None:
    # Staff with a report paid more than the staff member's own manager.
    query = Staff.filter_by(reports__salary__gt=F("manager__salary"))
    assert await names(query) == {"lead"}


async def test_inherited_columns_and_soft_deleted_rows(db: Database) -> None:
    await Dog.create(name="rex", licence="rex")
    await Dog.create(name="bo", licence="B-1")
    assert {dog.name for dog in await Dog.filter_by(licence=F("name")).all()} == {"rex"}
    await Article.create(slug="a", score=3)
    gone = await Article.create(slug="b", score=3)
    await gone.delete()
    assert await Article.filter_by(score__gt=F("score") - 1).update(score=F("score") * 2) == 1
    scores = await Article.with_deleted().order_by("slug").values_list("score", flat=True)
    assert scores == [6, 3]


async def test_typed_alternatives_in_filters(fx: Database) -> None:
    assert await names(Product.filter_by(stock__lt=Product.reserved)) == {"apple", "fig"}
    assert await names(Product.filter_by(hits__gt=Product.base * 2)) == {"apple"}
    query = Staff.filter_by(manager__salary__lt=Staff.salary)  # correlated like F
    assert await names(query) == {"lead", "star"}
    either = Q(Product.name == "fig", stock__lt=Product.reserved)
    assert await names(Product.filter(either)) == {"fig"}
    # F and mapped attributes mix in one expression.
    mixed = Product.filter_by(hits__gt=F("base") + Product.base)
    assert await names(mixed) == await names(Product.filter_by(hits__gt=F("base") * 2))


# -- refused before any SQL ----------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "lookups", "error", "says"),
    [
        (Product, {"stock__lt": F("nope")}, InvalidFieldError, "Valid: id, name, label"),
        (Shop, {"min_stock__gt": F("products__stock")}, InvalidFieldError, "to-many"),
        (Product, {"stock__lt": F("shop__nope")}, InvalidFieldError, "has no field 'nope'"),
        (Product, {"stock__in": [F("reserved")]}, InvalidValueError, "takes plain values"),
        (Product, {"name__contains": F("label")}, InvalidValueError, "not contains"),
        (Product, {"label__isnull": F("name")}, InvalidValueError, "not isnull"),
        (Product, {"shop": F("shop_id")}, InvalidValueError, "ends on a relationship"),
        (Product, {"name": F("stock")}, InvalidValueError, "Product.name is text"),
        (Product, {"stock": F("name")}, InvalidValueError, "gives a text"),
        (Product, {"stock": F("name") + 1}, InvalidValueError, "arithmetic works on numbers"),
        (Product, {"name": F("name") + "x"}, InvalidValueError, "arithmetic works on numbers"),
        (Product, {"added_on": F("stock")}, InvalidValueError, "is date"),
        (Product, {"added_on__lt": F("created_at")}, InvalidValueError, "gives a datetime"),
        (Product, {"stock": Coalesce(F("name"), 0)}, InvalidValueError, "mixes values"),
        (Product, {"stock__gt": Count("id")}, InvalidValueError, "aggregates belong"),
        (Product, {"hits__between": (F("name"), 3)}, InvalidValueError, "gives a text"),
        (Product, {"name": Product.stock}, InvalidValueError, "Product.name is text"),
        (Shop, {"products__name": F("min_stock")}, InvalidValueError, "is text"),
    ],
)
async def test_refused_before_any_sql(
    fx: Database, model: Any, lookups: dict[str, Any], error: type[Exception], says: str
) -> None:
    with StatementLog(fx) as log, pytest.raises(error) as caught:
        await model.filter_by(**lookups).all()
    assert says in str(caught.value)
    assert log.statements == []


async def test_unknown_types_get_the_benefit_of_the_doubt(fx: Database) -> None:
    # func.abs() has no known type: it is compared as written.
    assert await names(Product.filter_by(stock=func.abs(Product.reserved))) == {"plum"}
    assert await names(Product.filter_by(price__gt=F("stock"))) == set()  # NULL prices


# -- atomic UPDATE by query --------------------------------------------------------------


async def test_query_update_computes_in_the_database(fx: Database) -> None:
    assert await Product.filter_by(name="apple").update(hits=F("hits") + 1) == 1
    assert await stored(fx, Product, "apple", "hits") == 11
    assert await Product.filter_by(stock__lt=F("reserved")).update(stock=F("reserved")) == 2
    assert await stored(fx, Product, "fig", "stock") == 1
    assert await Product.filter_by(name="plum").update(hits=Coalesce(F("hits"), 0) + 5) == 1
    assert await stored(fx, Product, "plum", "hits") == 5
    assert await Product.filter_by(name="fig").update(label=F("name")) == 1
    assert await stored(fx, Product, "fig", "label") == "fig"


async def test_query_update_with_f_syncs_objects_in_the_session(fx: Database) -> None:
    async with fx.transaction():
        apple = await Product.filter_by(name="apple").one()
        await Product.filter_by(name="apple").update(hits=F("hits") * 2, stock=F("stock") + 1)
        assert (apple.hits, apple.stock) == (20, 4)  # no query: the session was synchronised
    assert await stored(fx, Product, "apple", "hits") == 20


async def test_query_update_typed_alternative(fx: Database) -> None:
    assert await Product.filter_by(name="pear").update(hits=Product.hits + Product.base) == 1
    assert await stored(fx, Product, "pear", "hits") == 5
    assert await Product.filter_by(name="pear").update(stock=Product.reserved) == 1
    assert await stored(fx, Product, "pear", "stock") == 2


@pytest.mark.parametrize(
    ("values", "error", "says"),
    [
        ({"hits": F("nope")}, InvalidFieldError, "has no field 'nope'"),
        ({"hits": F("shop__min_stock")}, InvalidFieldError, "row's own fields only"),
        ({"name": F("hits")}, InvalidValueError, "Product.name is text"),
        ({"hits": F("name") * 2}, InvalidValueError, "arithmetic works on numbers"),
        ({"hits": Count("id")}, InvalidValueError, "aggregates belong"),
        ({"rank": F("rank") + 1}, ProtectedFieldError, "protected"),
        ({"shop": F("shop_id")}, InvalidFieldError, "Cannot set 'shop'"),
        ({"name": Product.hits}, InvalidValueError, "Product.name is text"),
    ],
)
async def test_query_update_refused_before_any_sql(
    fx: Database, values: dict[str, Any], error: type[Exception], says: str
) -> None:
    with StatementLog(fx) as log, pytest.raises(error) as caught:
        await Product.filter_by(name="apple").update(**values)
    assert says in str(caught.value)
    assert log.statements == []


async def test_query_update_of_a_protected_field_when_trusted(fx: Database) -> None:
    query = Product.using(allow_protected={"rank"}).filter_by(name="fig")
    assert await query.update(rank=F("rank") + F("hits")) == 1
    assert await stored(fx, Product, "fig", "rank") == 9


# -- object updates ---------------------------------------------------------------------


async def test_object_update_reads_the_computed_value_back(fx: Database) -> None:
    apple = await Product.filter_by(name="apple").one()
    before = apple.updated_at
    await apple.update(hits=F("hits") + 1)
    # Detached now (an own session): a lazy load would fail, the value is there.
    assert apple.hits == 11
    assert apple.updated_at >= before
    assert await stored(fx, Product, "apple", "hits") == 11


async def test_object_update_in_a_transaction_and_fill_then_save(fx: Database) -> None:
    async with fx.transaction():
        pear = await Product.filter_by(name="pear").one()
        await pear.update(hits=F("hits") * F("stock"), label=Coalesce(F("label"), "none"))
        assert (pear.hits, pear.label) == (24, "pear")
        pear.fill(stock=F("stock") - F("reserved"))
        await pear.save()
        assert pear.stock == 6
    assert await stored(fx, Product, "pear", "stock") == 6


async def test_object_update_is_atomic_against_a_stale_copy(fx: Database) -> None:
    first = await Product.filter_by(name="apple").one()
    second = await Product.filter_by(name="apple").one()
    await first.update(hits=F("hits") + 1)
    await second.update(hits=F("hits") + 1)  # its loaded 10 is not what it adds to
    assert (first.hits, second.hits) == (11, 12)
    assert await stored(fx, Product, "apple", "hits") == 12


async def test_object_update_typed_alternative(fx: Database) -> None:
    fig = await Product.filter_by(name="fig").one()
    await fig.update(hits=Product.hits + 1)
    assert fig.hits == 10
    fig.stock = Product.reserved + 2  # set as an attribute, then saved
    await fig.save()
    assert fig.stock == 3


async def test_versioned_object_update_with_f(fx: Database) -> None:
    counter = await Counter.filter_by(name="c").one()
    await counter.update(count=F("count") + 10)
    assert (counter.count, counter.version) == (11, 2)
    stale = await Counter.filter_by(name="c").one()
    await counter.update(count=F("count") + 1)
    with pytest.raises(StaleObjectError):
        await stale.update(count=F("count") + 1)
    assert stale.count == 11  # a failed write leaves the object as it was
    assert await stored(fx, Counter, "c", "count") == 12


async def test_object_update_refused_before_any_sql(fx: Database) -> None:
    apple = await Product.filter_by(name="apple").one()
    cases: list[tuple[dict[str, Any], type[Exception], str]] = [
        ({"hits": F("shop__min_stock")}, InvalidFieldError, "row's own fields only"),
        ({"name": F("hits")}, InvalidValueError, "Product.name is text"),
        ({"hits": F("nope")}, InvalidFieldError, "has no field 'nope'"),
        ({"shop": F("shop_id")}, InvalidValueError, "is not a column"),
        ({"rank": F("rank") + 1}, ProtectedFieldError, "protected"),
        ({"hits": Count("id")}, InvalidValueError, "aggregates belong"),
    ]
    for values, error, says in cases:
        with StatementLog(fx) as log, pytest.raises(error) as caught:
            await apple.update(**values)
        assert says in str(caught.value)
        assert log.statements == []
        assert apple.hits == 10


async def test_f_on_a_new_object_is_refused(fx: Database) -> None:
    with pytest.raises(InvalidValueError, match="has no row yet"):
        Product(name="new").fill(hits=F("hits") + 1)
    with StatementLog(fx) as log, pytest.raises(InvalidValueError, match="has no row yet"):
        await Product.create(name="new", stock=F("reserved"))
    assert log.statements == []


# -- hostile input ----------------------------------------------------------------------


async def test_request_values_are_never_expressions(fx: Database) -> None:
    apple = await Product.filter_by(name="apple").one()
    form = {"label": "F('hits')", "name": "F('name') + 1"}
    await apple.update(form)  # text columns store the text as it is
    assert (await stored(fx, Product, "F('name') + 1", "label")) == "F('hits')"
    for bad in ({"hits": "F('hits') + 1"}, {"hits": {"F": "hits"}}, {"stock": ["F", "hits"]}):
        with pytest.raises(InvalidValueError):
            await apple.update(bad)
    query = {"hits__gt": "F('base')"}
    with StatementLog(fx) as log, pytest.raises(InvalidValueError):
        await Product.filter_by(**query).all()
    assert log.statements == []
    assert await names(Product.filter_by(label="F")) == {"fig"}  # a string is a value
    with pytest.raises(InvalidValueError):
        await Product.filter_by(hits__gt={"F": "base"}).all()


async def test_request_filters_cannot_make_an_expression(fx: Database) -> None:
    filters = RequestFilters(Product, fields={"hits": {"exact", "gt", "in"}, "label": {"exact"}})
    with pytest.raises(InvalidValueError):
        filters.apply({"hits__gt": "F(base)"})
    with pytest.raises(InvalidValueError):
        filters.apply({"hits__in": "F(base),1"})
    assert await names(filters.apply({"label": "F"})) == {"fig"}
    assert await names(filters.apply({"label": "F('label')"})) == set()


async def test_an_own_session_object_update_with_f_is_one_transaction(
    fx: Database, caplog: pytest.LogCaptureFixture
) -> None:
    # The UPDATE and the read-back are two statements: never autocommit.
    apple = await Product.filter_by(name="apple").one()
    with caplog.at_level(logging.DEBUG, logger="sqlrecord.plan"):
        await apple.update(hits=F("hits") + 1)
    # Product's plan only: a server another test left running logs its own.
    plans = (record.plan for record in caplog.records if hasattr(record, "plan"))
    plan = next(plan for plan in plans if plan.model == "Product")
    assert plan.transaction is Transaction.OWN
    if fx.engine.dialect.name != "mysql":  # where autocommit would be free
        assert "computed by the database" in plan.why
    assert apple.hits == 11


async def test_query_update_filtered_through_a_self_referential_path(fx: Database) -> None:
    # The filter reads the same table the UPDATE writes (a subquery on it).
    query = Staff.filter_by(salary__gt=F("manager__salary"))
    assert await query.update(salary=F("salary") - 10) == 2
    query = Staff.filter_by(manager__salary__lt=F("salary"), manager__name="lead")
    assert await query.update(salary=0) == 1
    salaries = dict(await Staff.order_by("name").values_list("name", "salary"))
    assert salaries == {"boss": 100, "dev": 90, "lead": 110, "star": 0}


async def test_object_saved_onto_the_session_copy_of_its_row(fx: Database) -> None:
    async with fx.transaction():
        held = await Product.filter_by(name="apple").one()
        async with fx.sessionmaker() as elsewhere:
            copy = await Product.using(elsewhere).filter_by(name="apple").one()
        copy.fill(hits=F("hits") + 1)
        await copy.save()  # merged onto `held`, which the transaction's session holds
        assert (copy.hits, held.hits) == (11, 11)
    assert await stored(fx, Product, "apple", "hits") == 11
