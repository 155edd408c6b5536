"""Fidelity examples: sqlrecord's calls next to the plain ``AsyncSession`` code that does the
same work with the same model, on the same database.

Each test runs the plain version first and takes its result as the expected one: sqlrecord
must end with the same rows, the same object values and the same events. Where a test says
what plain SQLAlchemy does, the plain run in the test shows it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, selectinload

from sqlrecord import Database

from .fidelity_models import (
    FX_METADATA,
    FxContact,
    FxCounter,
    FxDog,
    FxItem,
    FxKid,
    FxParent,
    FxPet,
    FxStamped,
    FxVersionedItem,
)
from .models import Invoice


@pytest.fixture
async def fx(db: Database) -> AsyncIterator[Database]:
    """The suite's ``db``, with the ``fx_`` tables created for the test and dropped after."""
    async with db.engine.begin() as connection:
        await connection.run_sync(FX_METADATA.drop_all)
        await connection.run_sync(FX_METADATA.create_all)
    try:
        yield db
    finally:
        async with db.engine.begin() as connection:
            await connection.run_sync(FX_METADATA.drop_all)


# -- helpers ------------------------------------------------------------------------------


async def _outcome(awaitable: Awaitable[Any]) -> str:
    """'ok', or the error the call raised (class and first line), as a comparable value."""
    try:
        await awaitable
    except Exception as error:
        first_line = (str(error).splitlines() or [""])[0]
        return f"{type(error).__name__}: {first_line[:160]}"
    return "ok"


async def _wipe_fx(db: Database) -> None:
    async with db.engine.begin() as connection:
        for table in reversed(FX_METADATA.sorted_tables):
            await connection.execute(table.delete())


async def _rows(db: Database, statement: Any) -> list[Any]:
    """Rows as committed, read in a plain session of their own."""
    async with db.sessionmaker() as session:
        return list((await session.execute(statement)).all())


def _session_class(db: Database) -> type[Session]:
    """The sync ``Session`` class behind the database's ``async_sessionmaker`` (session
    events cannot be listened for on an ``async_sessionmaker`` itself)."""
    maker = db.sessionmaker
    cls: type[Session] = maker.kw.get("sync_session_class") or maker.class_.sync_session_class
    return cls


# The session events that name an object: what happens to it on its way in and out.
_INSTANCE_TRANSITIONS = (
    "transient_to_pending",
    "pending_to_persistent",
    "pending_to_transient",
    "persistent_to_transient",
    "persistent_to_detached",
    "detached_to_persistent",
    "loaded_as_persistent",
    "persistent_to_deleted",
    "deleted_to_detached",
)


class _Recorder:
    """Session and engine listeners that append what fired to ``events``; ``remove()``
    takes every one of them off again (the suite shares its engines)."""

    INSTANCE_EVENTS = frozenset({"before_attach", "after_attach", *_INSTANCE_TRANSITIONS})

    def __init__(
        self,
        db: Database,
        session_events: tuple[str, ...],
        engine_events: tuple[str, ...] = (),
    ) -> None:
        self.events: list[str] = []
        self._added: list[tuple[Any, str, Callable[..., None]]] = []
        # Session listeners are class-wide: sessions of other databases in this process
        # (a server another test left running, say) must not be counted.
        # (MySQL/MariaDB's own one-statement sessions use the database's second pool.)
        self._pools = {db.engine.sync_engine.pool, db._autocommit_engine.sync_engine.pool}
        session_class = _session_class(db)
        for name in session_events:
            self._listen(session_class, name, self._session_listener(name))
        for name in engine_events:
            self._listen(db.engine.sync_engine, name, self._engine_listener(name))

    def _listen(self, target: Any, name: str, listener: Callable[..., None]) -> None:
        event.listen(target, name, listener)
        self._added.append((target, name, listener))

    def _session_listener(self, name: str) -> Callable[..., None]:
        def listener(*args: Any) -> None:
            if getattr(args[0].bind, "pool", None) not in self._pools:
                return
            if name in self.INSTANCE_EVENTS:
                self.events.append(f"{name}({type(args[1]).__name__})")
            else:
                self.events.append(name)

        return listener

    def _engine_listener(self, name: str) -> Callable[..., None]:
        def listener(*_args: Any) -> None:
            self.events.append(f"engine.{name}")

        return listener

    def take(self) -> list[str]:
        taken = list(self.events)
        self.events.clear()
        return taken

    def remove(self) -> None:
        for target, name, listener in reversed(self._added):
            event.remove(target, name, listener)
        self._added.clear()


# -- 1. lost update -----------------------------------------------------------------------


async def _row_state(db: Database, model: type[Any], pk: int) -> tuple[Any, ...]:
    columns = [model.state] + ([model.version] if hasattr(model, "version") else [])
    rows = await _rows(db, select(*columns).where(model.id == pk))
    return tuple(rows[0])


@pytest.mark.parametrize("model", [FxItem, FxVersionedItem], ids=["plain", "versioned"])
async def test_lost_update_reassigned_value_sends_nothing(fx: Database, model: type[Any]) -> None:
    """Plain ORM: ``mine`` was loaded as 'new', another session commits 'paid', then
    ``mine.state = "new"`` and a flush. The attribute's history shows no net change, so the
    flush sends no UPDATE: the row stays 'paid' (and, versioned, keeps the other session's
    version and raises nothing)."""
    # Plain AsyncSession.
    async with fx.sessionmaker() as s, s.begin():
        plain_mine = model(state="new")
        s.add(plain_mine)

    async def plain_other() -> None:
        async with fx.sessionmaker() as s, s.begin():
            theirs = await s.get(model, plain_mine.id)
            theirs.state = "paid"

    await asyncio.create_task(plain_other())
    plain_mine.state = "new"

    async def plain_save() -> None:
        async with fx.sessionmaker() as s, s.begin():
            s.add(plain_mine)

    plain = (await _outcome(plain_save()), await _row_state(fx, model, plain_mine.id))

    # sqlrecord.
    mine = await model.create(state="new")

    async def other() -> None:
        theirs = await model.get(mine.id)
        await theirs.update(state="paid")

    await asyncio.create_task(other())
    mine.state = "new"
    ours = (await _outcome(mine.save()), await _row_state(fx, model, mine.id))

    assert ours == plain


async def test_unchanged_reassignment_keeps_the_version(fx: Database) -> None:
    """Plain ORM: assigning a versioned object's attribute its own value is no change: the
    flush sends no UPDATE and the version stays where it was."""
    async with fx.sessionmaker() as s, s.begin():
        plain_mine = FxVersionedItem(state="new")
        s.add(plain_mine)
    plain_mine.state = "new"
    async with fx.sessionmaker() as s, s.begin():
        s.add(plain_mine)
    plain = (plain_mine.version, await _row_state(fx, FxVersionedItem, plain_mine.id))

    mine = await FxVersionedItem.create(state="new")
    mine.state = "new"
    await mine.save()
    ours = (mine.version, await _row_state(fx, FxVersionedItem, mine.id))

    assert ours == plain


# -- 2. Python-side defaults ----------------------------------------------------------------


def _defaults_seen(obj: FxStamped) -> dict[str, Any]:
    stamp = obj.stamp
    return {
        "stamp": stamp,
        "aware": stamp.tzinfo is not None,
        "microsecond": stamp.microsecond,
        "code": obj.code,
    }


async def test_python_side_defaults_come_back_as_sent(fx: Database) -> None:
    """Plain ORM: a callable column default is computed in Python and sent; after the flush
    the object holds that Python value (an aware datetime with its microseconds, 'NEW'),
    not the row read back (naive or truncated on some databases, lower-cased by the type)."""
    async with fx.sessionmaker() as s, s.begin():
        plain_own = FxStamped(label="plain-own")
        s.add(plain_own)
    async with fx.sessionmaker() as s, s.begin():
        plain_served = FxStamped(label="plain-served")
        s.add(plain_served)
        await s.flush()
        plain = {"own": _defaults_seen(plain_own), "served": _defaults_seen(plain_served)}

    ours_own = await FxStamped.create(label="ours-own")
    async with fx.transaction():
        ours_served = await FxStamped.create(label="ours-served")
        ours = {"own": _defaults_seen(ours_own), "served": _defaults_seen(ours_served)}

    assert ours == plain


# -- 3. upsert and onupdate ---------------------------------------------------------------


async def _counters(db: Database, prefix: str) -> dict[str, tuple[Any, ...]]:
    rows = await _rows(
        db,
        select(FxCounter.key, FxCounter.hits, FxCounter.note, FxCounter.bumps).where(
            FxCounter.key.startswith(prefix)
        ),
    )
    return {key.removeprefix(prefix): (hits, note, bumps) for key, hits, note, bumps in rows}


async def test_upsert_applies_each_columns_own_onupdate(fx: Database) -> None:
    """Plain ORM: updating ``hits`` of an existing row through the unit of work applies every
    column's own ``onupdate`` (note -> 'edited', bumps -> 7); a new row gets the column
    defaults. Nothing writes a timestamp into a text or an integer column."""
    async with fx.sessionmaker() as s, s.begin():
        s.add(FxCounter(key="plain-old", hits=1))

    async def plain_upsert() -> None:
        async with fx.sessionmaker() as s, s.begin():
            for key, hits in (("plain-old", 5), ("plain-new", 3)):
                row = await s.scalar(select(FxCounter).where(FxCounter.key == key))
                if row is None:
                    s.add(FxCounter(key=key, hits=hits))
                else:
                    row.hits = hits

    plain = (await _outcome(plain_upsert()), await _counters(fx, "plain-"))

    await FxCounter.create(key="ours-old", hits=1)
    rows = [{"key": "ours-old", "hits": 5}, {"key": "ours-new", "hits": 3}]
    upserted = FxCounter.upsert(rows, conflict=["key"], update=["hits"])
    ours = (await _outcome(upserted), await _counters(fx, "ours-"))

    assert ours == plain


# -- 4. bulk writes: discriminator and version ----------------------------------------------


async def _pets(db: Database) -> list[tuple[Any, ...]]:
    return sorted(await _rows(db, select(FxPet.name, FxPet.kind)))


@pytest.mark.parametrize("write", ["upsert", "bulk_create"])
async def test_bulk_writes_on_single_table_subclass_store_discriminator(
    fx: Database, write: str
) -> None:
    """Plain ORM: ``session.add(FxDog(name="rex"))`` stores the row with ``kind='dog'``, so
    a query of ``FxDog`` counts it."""

    async def plain_add() -> None:
        async with fx.sessionmaker() as s, s.begin():
            s.add(FxDog(name="rex"))

    outcome = await _outcome(plain_add())
    async with fx.sessionmaker() as s:
        plain_count = await s.scalar(select(func.count()).select_from(FxDog))
    plain = (outcome, plain_count, await _pets(fx))
    await _wipe_fx(fx)

    if write == "upsert":
        outcome = await _outcome(FxDog.upsert([{"name": "rex"}], conflict=["name"]))
    else:
        outcome = await _outcome(FxDog.bulk_create([{"name": "rex"}]))
    ours = (outcome, await FxDog.count(), await _pets(fx))

    assert ours == plain


@pytest.mark.parametrize("write", ["bulk_create", "upsert"])
async def test_bulk_writes_store_the_version(db: Database, write: str) -> None:
    """Plain ORM: ``session.add(Invoice(...))`` and a flush store ``version`` = 1, the first
    value of the mapper's default version counter."""

    async def plain_add() -> None:
        async with db.sessionmaker() as s, s.begin():
            s.add(Invoice(number="plain-1"))

    plain_outcome = await _outcome(plain_add())
    if write == "bulk_create":
        ours_outcome = await _outcome(Invoice.bulk_create([{"number": "ours-1"}]))
    else:
        ours_outcome = await _outcome(Invoice.upsert([{"number": "ours-1"}], conflict=["number"]))
    versions = dict(await _rows(db, select(Invoice.number, Invoice.version)))

    assert (ours_outcome, versions.get("ours-1")) == (plain_outcome, versions.get("plain-1"))


# -- 5. validators ------------------------------------------------------------------------


@pytest.mark.parametrize("return_objects", [False, True], ids=["count", "objects"])
async def test_bulk_create_runs_validators(fx: Database, return_objects: bool) -> None:
    """Plain ORM: ``session.add_all([FxContact(email="KIM@X.COM")])`` runs the model's
    ``@validates("email")`` normaliser on construction: the row is stored lower-case."""
    async with fx.sessionmaker() as s, s.begin():
        s.add_all([FxContact(email="KIM@X.COM")])
    plain = await _rows(fx, select(FxContact.email))
    await _wipe_fx(fx)

    await FxContact.bulk_create([{"email": "KIM@X.COM"}], return_objects=return_objects)
    ours = await _rows(fx, select(FxContact.email))

    assert ours == plain


# -- 6. session and engine events of own-session calls -------------------------------------

# (session events, engine events): each set alone, as a user would register it.
_LISTENER_SETS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "after_begin": (("after_begin",), ()),  # e.g. SET app.tenant_id for row-level security
    "after_commit": (("after_commit",), ()),  # e.g. publish an outbox after COMMIT
    "attach": (("before_attach", "after_attach"), ()),
    "state_transitions": (_INSTANCE_TRANSITIONS, ()),
    "engine": ((), ("begin", "commit", "rollback")),
    "all": (
        ("after_begin", "after_commit", "before_attach", "after_attach", *_INSTANCE_TRANSITIONS),
        ("begin", "commit", "rollback"),
    ),
}
_READS = ("get", "filter_by().all()", "values()", "count()")
# A read's transaction ends in COMMIT (``s.begin()``) or ROLLBACK (``async with s:``) alike
# in plain code; only how it begins and what it loads is compared for reads.
_TRANSACTION_END = frozenset(
    {"after_commit", "engine.commit", "engine.rollback", "after_rollback", "before_commit"}
)


async def _sqlrecord_calls() -> AsyncIterator[str]:
    item = await FxItem.create(state="events")
    yield "create"
    found = await FxItem.get(item.id)
    yield "get"
    rows = await FxItem.filter_by(state="events").all()
    yield "filter_by().all()"
    values = await FxItem.filter_by(state="events").values("state")
    yield "values()"
    count = await FxItem.count()
    yield "count()"
    item.state = "changed"
    await item.save()
    yield "save"
    await item.delete()
    yield "delete"
    del found, rows, values, count


async def _plain_calls(db: Database) -> AsyncIterator[str]:
    # Each result is kept until its session has closed, as sqlrecord's calls return theirs.
    async with db.sessionmaker() as s, s.begin():
        item = FxItem(state="events")
        s.add(item)
    yield "create"
    async with db.sessionmaker() as s, s.begin():
        found = await s.get(FxItem, item.id)
    yield "get"
    async with db.sessionmaker() as s, s.begin():
        rows = (await s.scalars(select(FxItem).filter_by(state="events"))).all()
    yield "filter_by().all()"
    async with db.sessionmaker() as s, s.begin():
        values = (await s.execute(select(FxItem.state).filter_by(state="events"))).mappings().all()
    yield "values()"
    async with db.sessionmaker() as s, s.begin():
        count = await s.scalar(select(func.count()).select_from(FxItem))
    yield "count()"
    item.state = "changed"
    async with db.sessionmaker() as s, s.begin():
        s.add(item)
    yield "save"
    async with db.sessionmaker() as s, s.begin():
        await s.delete(item)
    yield "delete"
    del found, rows, values, count


async def _events_per_call(recorder: _Recorder, calls: AsyncIterator[str]) -> dict[str, list[str]]:
    seen: dict[str, list[str]] = {}
    recorder.take()
    async for name in calls:
        events = recorder.take()
        if name in _READS:
            events = [each for each in events if each not in _TRANSACTION_END]
        seen[name] = events
    return seen


@pytest.mark.parametrize("listeners", list(_LISTENER_SETS))
async def test_own_session_calls_fire_the_users_events(fx: Database, listeners: str) -> None:
    """Plain ORM: every read and write goes through a session on a connection, so a
    session's ``after_begin`` fires before the first statement (where a tenant id is set),
    ``after_commit`` after each write's COMMIT, the attach and state-transition events as
    objects enter and leave the session, and the engine's ``begin``/``commit`` around it."""
    session_events, engine_events = _LISTENER_SETS[listeners]
    recorder = _Recorder(fx, session_events, engine_events)
    try:
        plain = await _events_per_call(recorder, _plain_calls(fx))
        ours = await _events_per_call(recorder, _sqlrecord_calls())
    finally:
        recorder.remove()

    assert ours == plain


# -- 7. a served write's SAVEPOINT is not a commit ------------------------------------------


async def test_served_write_savepoint_fires_no_commit_events(fx: Database) -> None:
    """Plain ORM: inside one transaction, ``s.add(obj); await s.flush()`` (and a flush of a
    change) sends the statements and fires no ``before_commit``/``after_commit``; they fire
    once, at the block's COMMIT, and never when the block is rolled back."""
    recorder = _Recorder(fx, ("before_commit", "after_commit"))
    try:
        async with fx.sessionmaker() as s, s.begin():
            plain_item = FxItem(state="plain")
            s.add(plain_item)
            await s.flush()
            plain_item.state = "plain-changed"
            await s.flush()
            plain_in_block = recorder.take()
        plain_at_end = recorder.take()
        with pytest.raises(RuntimeError):
            async with fx.sessionmaker() as s, s.begin():
                s.add(FxItem(state="plain-undone"))
                await s.flush()
                raise RuntimeError("roll the block back")
        plain_rolled_back = recorder.take()

        async with fx.transaction():
            ours_item = await FxItem.create(state="ours")
            ours_item.state = "ours-changed"
            await ours_item.save()
            ours_in_block = recorder.take()
        ours_at_end = recorder.take()
        with pytest.raises(RuntimeError):
            async with fx.transaction():
                await FxItem.create(state="ours-undone")
                raise RuntimeError("roll the block back")
        ours_rolled_back = recorder.take()
    finally:
        recorder.remove()

    assert {
        "in block": ours_in_block,
        "at the block's end": ours_at_end,
        "rolled-back block": ours_rolled_back,
    } == {
        "in block": plain_in_block,
        "at the block's end": plain_at_end,
        "rolled-back block": plain_rolled_back,
    }


# -- 8. save() keeps the unit of work's other pending changes -------------------------------


async def _family(db: Database) -> int:
    async with db.sessionmaker() as s, s.begin():
        parent = FxParent(name="p", kids=[FxKid(name="first"), FxKid(name="second")])
        s.add(parent)
    return parent.id


async def _family_state(db: Database, parent_id: int) -> tuple[Any, ...]:
    names = await _rows(db, select(FxParent.name).where(FxParent.id == parent_id))
    kids = await _rows(
        db, select(FxKid.name).where(FxKid.parent_id == parent_id).order_by(FxKid.id)
    )
    return tuple(row[0] for row in names), tuple(row[0] for row in kids)


async def _loaded_parent(session: AsyncSession, parent_id: int) -> FxParent:
    parent = await session.get(FxParent, parent_id, options=[selectinload(FxParent.kids)])
    assert parent is not None
    return parent


async def test_save_keeps_a_pending_delete(fx: Database) -> None:
    """Plain ORM: ``await s.delete(p.kids[0]); p.name = "q"; await s.flush()`` sends the
    DELETE and the UPDATE: after the commit the kid is gone and the parent is named 'q'."""
    plain_id = await _family(fx)
    ours_id = await _family(fx)

    async def plain_unit() -> None:
        async with fx.sessionmaker() as s, s.begin():
            parent = await _loaded_parent(s, plain_id)
            await s.delete(parent.kids[0])
            parent.name = "q"
            await s.flush()

    plain = (await _outcome(plain_unit()), await _family_state(fx, plain_id))

    async def our_unit() -> None:
        async with fx.transaction() as session:
            parent = await _loaded_parent(session, ours_id)
            await session.delete(parent.kids[0])
            parent.name = "q"
            await parent.save()

    ours = (await _outcome(our_unit()), await _family_state(fx, ours_id))

    assert ours == plain


async def test_save_deletes_a_removed_orphan(fx: Database) -> None:
    """Plain ORM: on a ``cascade="all, delete-orphan"`` collection,
    ``p.kids.remove(k); await s.flush()`` deletes the orphan's row."""
    plain_id = await _family(fx)
    ours_id = await _family(fx)

    async def plain_unit() -> None:
        async with fx.sessionmaker() as s, s.begin():
            parent = await _loaded_parent(s, plain_id)
            parent.kids.remove(parent.kids[0])
            await s.flush()

    plain = (await _outcome(plain_unit()), await _family_state(fx, plain_id))

    async def our_unit() -> None:
        async with fx.transaction() as session:
            parent = await _loaded_parent(session, ours_id)
            parent.kids.remove(parent.kids[0])
            await parent.save()

    ours = (await _outcome(our_unit()), await _family_state(fx, ours_id))

    assert ours == plain


# -- 9. save() in a unit of work keeps the object attached ----------------------------------


async def test_save_in_unit_of_work_keeps_the_object_attached(fx: Database) -> None:
    """Plain ORM: changing a loaded object and flushing fires no ``persistent_to_detached``,
    ``detached_to_persistent`` or attach event: the object never leaves the session."""
    plain_id = (await FxItem.create(state="plain")).id
    ours_id = (await FxItem.create(state="ours")).id
    recorder = _Recorder(
        fx,
        ("persistent_to_detached", "detached_to_persistent", "before_attach", "after_attach"),
    )
    try:
        async with fx.sessionmaker() as s, s.begin():
            plain_item = await s.get(FxItem, plain_id)
            assert plain_item is not None
            recorder.take()
            plain_item.state = "plain-changed"
            await s.flush()
            plain = recorder.take()

        async with fx.transaction():
            ours_item = await FxItem.get(ours_id)
            assert ours_item is not None
            recorder.take()
            ours_item.state = "ours-changed"
            await ours_item.save()
            ours = recorder.take()
    finally:
        recorder.remove()

    assert ours == plain
