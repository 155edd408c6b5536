"""Deleting a row that other rows refer to: sqlrecord raises what the ORM's flush meets.

Without a delete cascade the ORM sets the children's foreign key to NULL (a NOT NULL
key refuses: ``NotNullError``, whose message names the relationship and the fix);
with one it deletes them; a reference the ORM does not manage (``passive_deletes="all"``,
or no relationship on the parent) reaches the database's foreign key
(``ForeignKeyError``). Each case is run once through plain ``AsyncSession`` too.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import ForeignKey, String, exc
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from sqlrecord import CRUDMixin, Database
from sqlrecord._translate import translate_integrity_error
from sqlrecord.exceptions import ForeignKeyError, IntegrityConstraintError, NotNullError

from .helpers import count_rows


class RefBase(DeclarativeBase):
    pass


class Shelf(CRUDMixin, RefBase):
    """No delete cascade: the ORM nulls the volumes' shelf_id."""

    __tablename__ = "ref_shelves"
    id: Mapped[int] = mapped_column(primary_key=True)
    label: Mapped[str] = mapped_column(String(20))
    volumes: Mapped[list[Volume]] = relationship(back_populates="shelf")


class Volume(CRUDMixin, RefBase):
    __tablename__ = "ref_volumes"
    id: Mapped[int] = mapped_column(primary_key=True)
    shelf_id: Mapped[int] = mapped_column(ForeignKey("ref_shelves.id"))
    shelf: Mapped[Shelf] = relationship(back_populates="volumes")


class Crate(CRUDMixin, RefBase):
    """The ORM leaves the bottles alone: the database's foreign key decides."""

    __tablename__ = "ref_crates"
    id: Mapped[int] = mapped_column(primary_key=True)
    bottles: Mapped[list[Bottle]] = relationship(passive_deletes="all")


class Bottle(CRUDMixin, RefBase):
    __tablename__ = "ref_bottles"
    id: Mapped[int] = mapped_column(primary_key=True)
    crate_id: Mapped[int] = mapped_column(ForeignKey("ref_crates.id"))


class Box(CRUDMixin, RefBase):
    """A delete cascade: the ORM deletes the items with their box."""

    __tablename__ = "ref_boxes"
    id: Mapped[int] = mapped_column(primary_key=True)
    items: Mapped[list[Item]] = relationship(cascade="all, delete-orphan")


class Item(CRUDMixin, RefBase):
    __tablename__ = "ref_items"
    id: Mapped[int] = mapped_column(primary_key=True)
    box_id: Mapped[int] = mapped_column(ForeignKey("ref_boxes.id"))


@pytest.fixture
async def ref(db: Database) -> AsyncIterator[Database]:
    """The suite's ``db``, with this module's tables created for the test and dropped after."""
    async with db.engine.begin() as connection:
        await connection.run_sync(RefBase.metadata.drop_all)
        await connection.run_sync(RefBase.metadata.create_all)
    try:
        yield db
    finally:
        async with db.engine.begin() as connection:
            await connection.run_sync(RefBase.metadata.drop_all)


async def _orm_error(db: Database, model: type[CRUDMixin], pk: int) -> type[Exception]:
    """The typed error of the same delete written with plain ``AsyncSession``."""
    async with db.sessionmaker() as session:
        await session.delete(await session.get(model, pk))
        with pytest.raises(exc.IntegrityError) as caught:
            await session.commit()
    return type(translate_integrity_error(caught.value))


async def test_parent_without_delete_cascade_raises_not_null_naming_the_fix(ref: Database) -> None:
    shelf = await Shelf.create(label="A", volumes=[Volume(), Volume()])
    with pytest.raises(NotNullError) as caught:
        await shelf.delete()
    message = str(caught.value)
    assert "Shelf.volumes has no delete cascade" in message
    assert "ref_volumes.shelf_id" in message
    assert 'cascade="all, delete-orphan"' in message and "Delete those Volume rows" in message
    assert isinstance(caught.value.__cause__, exc.IntegrityError)  # the driver's error, chained
    assert await _orm_error(ref, Shelf, shelf.id) is NotNullError  # what the ORM meets
    assert await count_rows(ref, Volume, shelf_id=shelf.id) == 2
    assert (shelf.id, shelf.label) == (shelf.id, "A")  # as before the call, readable

    async with ref.transaction():  # a served unit goes on after the refused delete
        same = await Shelf.get_or_fail(shelf.id)
        with pytest.raises(NotNullError, match="would orphan its volumes"):
            await same.delete()
        await Volume.filter_by(shelf_id=shelf.id).delete()  # the fix the message gives
        await same.delete()
    assert await count_rows(ref, Shelf) == 0


async def test_reference_the_orm_does_not_manage_raises_foreign_key(ref: Database) -> None:
    crate = await Crate.create()
    await Bottle.create(crate_id=crate.id)
    with pytest.raises(ForeignKeyError, match="still referenced"):
        await crate.delete()
    assert await _orm_error(ref, Crate, crate.id) is ForeignKeyError
    assert await count_rows(ref, Crate) == 1
    await Bottle.filter_by(crate_id=crate.id).delete()
    await crate.delete()  # the same object, put back as it was, deletes once unreferenced
    assert await count_rows(ref, Crate) == 0


async def test_delete_cascade_deletes_the_children(ref: Database) -> None:
    box = await Box.create(items=[Item(), Item()])
    await box.delete()
    assert (await count_rows(ref, Box), await count_rows(ref, Item)) == (0, 0)


def test_other_not_null_errors_keep_their_message() -> None:
    from sqlrecord._orphans import orphaned_children_error

    refused = NotNullError("refused", constraint="ref_volumes.id")
    assert orphaned_children_error(Shelf, refused) is None
    assert orphaned_children_error(Box, NotNullError("x", constraint="ref_items.box_id")) is None
    assert issubclass(NotNullError, IntegrityConstraintError)
