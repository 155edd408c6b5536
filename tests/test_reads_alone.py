"""An own session's ``get`` of one key reads the row on a connection of its own and builds
the object as the ORM's loading builds it (``Route.CONNECTION_LOAD``, ``_reads_alone.py``;
the planner's proof: ``_unwatched_load.py``),
where nothing could tell that from ``session.get`` and the session's close. Anything that
could tell them apart keeps ``session.get``. The differential harness compares the
catalogue models' gets with plain ``AsyncSession``'s (tests/differential); these tests
pin the planner's choices and the object, field by field of its ORM state.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import decimal
from typing import Any

import pytest
from sqlalchemy import ForeignKey, inspect, select
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapped,
    Session,
    column_property,
    mapped_column,
    relationship,
)

from sqlrecord import Count, Database
from sqlrecord._internals import (
    configure_for_load,
    why_not_plain_load,
    why_session_loads_otherwise,
)
from sqlrecord._plan import Route
from sqlrecord._reads_alone import load_query_alone
from sqlrecord._unwatched_load import why_load_differs
from sqlrecord.exceptions import InvalidValueError, NotLoadedError

from .models import Article, Dog, Invoice, Membership, Note, Oddity, Post, Reading, User
from .test_one_statement import plans_logged
from .test_row_insert import _listening


async def _orm_get(db: Database, model: type[Any], key: Any) -> Any:
    """``session.get`` in a new plain ``AsyncSession``, closed: the reference."""
    async with db.sessionmaker() as session:
        return await session.get(model, key)


def _state_of(obj: Any) -> dict[str, Any]:
    """Everything the ORM keeps about a loaded object, as comparable data: the state's
    fields (in the order they were set), its history, the object's ``__dict__``."""
    state = inspect(obj)
    fields = dict(vars(state))
    fields.pop("attrs", None)  # memoized by this function's own reading of the history
    assert isinstance(fields.pop("runid"), int)  # each load's own number
    fields["_instance_dict"] = fields["_instance_dict"]()  # the closed session's map: gone
    return {
        "fields": list(fields.items()),
        "values": {key: value for key, value in vars(obj).items() if key != "_sa_instance_state"},
        "committed": dict(state.committed_state),
        "expired": set(state.expired_attributes),
        "callables": dict(state.callables),
        "unloaded": set(state.unloaded),
        "modified": state.modified,
        "detached": state.detached,
        "history": {attr.key: attr.history for attr in state.attrs if attr.key in state.dict},
    }


CASES = [
    pytest.param(Note, {"text": "hi", "code": "n-1"}, id="plain"),
    pytest.param(Reading, {"value": 3, "note": None}, id="renamed-column"),
    # Column names a bound parameter cannot carry; types with result processing.
    pytest.param(
        Oddity,
        {
            "full_name": "Kim",
            "rate": decimal.Decimal("1.25"),
            "seen_at": dt.datetime(2026, 1, 2, 3, 4, 5),
            "active": False,
        },
        id="escaped-and-processed",
    ),
    pytest.param(Membership, {"group": "a", "member": 1}, id="composite-key"),
    # Lazy relationships (one of them view-only), a hybrid property.
    pytest.param(User, {"email": "kim@example.com", "name": "Kim"}, id="relationships"),
    pytest.param(Invoice, {"number": "I-1", "amount": 5}, id="version-counter"),
]


@pytest.mark.parametrize(("model", "values"), CASES)
async def test_a_get_builds_the_object_the_orm_builds(
    db: Database, caplog: pytest.LogCaptureFixture, model: type[Any], values: dict[str, Any]
) -> None:
    created = await model.create(**values)
    identity = inspect(created).identity
    key = identity if len(identity) > 1 else identity[0]
    with plans_logged(caplog, model) as plans:
        ours = await model.get(key)
    assert [plan.route for plan in plans] == [Route.CONNECTION_LOAD]
    reference = await _orm_get(db, model, key)
    assert _state_of(ours) == _state_of(reference)
    assert inspect(ours).load_path is inspect(reference).load_path
    assert db.engine.sync_engine.pool.checkedout() == 0


@pytest.mark.parametrize(
    ("model", "values", "unique"),
    [
        pytest.param(User, {"email": "kim@example.com", "name": "Kim"}, "email", id="email"),
        pytest.param(Note, {"text": "hi", "code": "n-1"}, "code", id="code"),
    ],
)
async def test_a_get_by_a_unique_column_builds_the_object_the_orm_builds(
    db: Database,
    caplog: pytest.LogCaptureFixture,
    model: type[Any],
    values: dict[str, Any],
    unique: str,
) -> None:
    await model.create(**values)
    with plans_logged(caplog, model) as plans:
        ours = await model.get(**{unique: values[unique]})
        missing = await model.get(**{unique: "nobody"})
    assert [plan.route for plan in plans] == [Route.CONNECTION_LOAD] * 2
    assert missing is None
    statement = select(model).filter_by(**{unique: values[unique]})
    async with db.sessionmaker() as session:
        reference = (await session.scalars(statement)).one_or_none()
    assert _state_of(ours) == _state_of(reference)


async def test_a_missing_row_is_none_and_a_soft_deleted_one_is_absent(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    article = await Article.create(slug="gone")
    await article.delete()
    with plans_logged(caplog, Article) as plans:
        assert await Article.get(404) is None
        assert await Article.get(article.id) is None
        kept = await Article.with_deleted().get(article.id)
    assert kept is not None and kept.deleted_at is not None
    assert [plan.route for plan in plans] == [Route.CONNECTION_LOAD] * 3
    assert _state_of(kept) == _state_of(await _orm_get(db, Article, article.id))


async def _orm_scalars(db: Database, statement: Any) -> list[Any]:
    """``session.scalars(statement).all()`` in a new plain ``AsyncSession``, closed."""
    async with db.sessionmaker() as session:
        return list((await session.scalars(statement)).all())


def _same_objects(ours: list[Any], reference: list[Any]) -> None:
    """The two lists hold the same objects, state for state, and repeat them alike."""
    assert [_state_of(obj) for obj in ours] == [_state_of(obj) for obj in reference]
    assert [[other is obj for other in ours] for obj in ours] == [
        [other is obj for other in reference] for obj in reference
    ]


@pytest.mark.parametrize(("model", "values"), CASES)
async def test_a_query_builds_the_objects_the_orm_builds(
    db: Database, caplog: pytest.LogCaptureFixture, model: type[Any], values: dict[str, Any]
) -> None:
    for n in range(3):
        await model.create(**_nth(model, values, n))
    key = [column.key for column in inspect(model).primary_key]
    query = model.filter_by().order_by(*(f"-{name}" for name in key))
    with plans_logged(caplog, model) as plans:
        ours = await query.all()
        first = await query.first()
        none = await query.filter_by(**{key[0]: _missing(model)}).first()
    assert [plan.route for plan in plans] == [Route.CONNECTION_LOAD] * 3
    assert len(ours) == 3 and none is None
    _same_objects(ours, await _orm_scalars(db, query.statement()))
    _same_objects([first], (await _orm_scalars(db, query.limit(1).statement()))[:1])
    assert db.engine.sync_engine.pool.checkedout() == 0


def _nth(model: type[Any], values: dict[str, Any], n: int) -> dict[str, Any]:
    """The ``n``th row's values: the unique ones made unique."""
    unique = {"code", "email", "number", "member", "slug"}
    made = {}
    for name, value in values.items():
        if name in unique and isinstance(value, str):
            made[name] = f"{n}-{value}"
        elif name in unique:
            made[name] = value + n
        else:
            made[name] = value
    return made


def _missing(model: type[Any]) -> Any:
    return "none" if model is Membership else 10**6


async def test_rows_of_one_object_give_that_object_as_the_orm_gives_it(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    user = await User.create(email="kim@example.com")
    for title in ("a", "b"):
        await Post.create(title=title, author_id=user.id)
    # Each post's row joined to its author: the author's columns twice.
    statement = select(User).join(Post, Post.author_id == User.id).order_by(Post.title)
    async with db.sessionmaker() as session:
        reference = list((await session.scalars(statement)).all())
    session = db._open_session(autocommit=True)
    try:
        assert why_load_differs(User, session, statement=statement) is None
    finally:
        await session.close()
    ours = await load_query_alone(db._autocommit_engine, User, statement)
    assert len(ours) == 2 and ours[0] is ours[1]
    _same_objects(ours, reference)


QUERIES_LOADED_OTHERWISE = [
    pytest.param(lambda: User.filter_by().load("posts"), "the query has loader options", id="load"),
    pytest.param(lambda: User.filter_by().only("email"), "the query has loader options", id="only"),
    # Annotated objects come from a terminal of their own, which reads through the session.
    pytest.param(lambda: User.filter_by().annotate(post_count=Count("posts")), None, id="annotate"),
    pytest.param(
        lambda: Dog.filter_by(), "inheritance: the loading picks the class by the row", id="dog"
    ),
]


@pytest.mark.parametrize(("query", "why"), QUERIES_LOADED_OTHERWISE)
async def test_a_query_loaded_otherwise_keeps_the_session(
    db: Database, caplog: pytest.LogCaptureFixture, query: Any, why: str | None
) -> None:
    await User.create(email="kim@example.com")
    await Dog.create(name="Rex", licence="L-1")
    built = query()
    with plans_logged(caplog, built._model) as plans:
        found = await built.all()
    assert len(found) == 1
    assert [plan.route for plan in plans] == [Route.ORM_STATEMENT]
    if why is not None:
        assert plans[0].why == why


async def test_the_object_behaves_as_a_detached_one(db: Database) -> None:
    user = await User.create(email="kim@example.com")
    ours = await User.get(user.id)
    reference = await _orm_get(db, User, user.id)
    refusals = []
    for obj in (ours, reference):
        with pytest.raises(NotLoadedError) as refused:
            _ = obj.posts
        refusals.append(str(refused.value))
        assert obj.display_name == "kim@example.com"
    assert refusals[0] == refusals[1]
    # Taken back into a session, it loads and saves as any detached object.
    ours.name = "Kim"
    await ours.save()
    assert inspect(ours).modified is False
    async with db.sessionmaker() as session:
        merged = await session.merge(ours)
        assert merged.name == "Kim"
        assert (await session.get(User, user.id)) is merged
    assert (await User.get(user.id)).name == "Kim"


LISTENERS = [
    pytest.param(
        lambda db: Note, "load", "a 'load' listener watches the loaded objects", id="load"
    ),
    pytest.param(
        lambda db: Session,
        "loaded_as_persistent",
        "a session 'loaded_as_persistent' listener sees the session's life",
        id="session",
    ),
    pytest.param(
        lambda db: db._autocommit_engine.sync_engine,
        "before_execute",
        "a 'before_execute' listener on the engine",
        id="engine",
    ),
]


@pytest.mark.parametrize(("target", "name", "why"), LISTENERS)
async def test_a_listener_keeps_session_get_and_hears_it(
    db: Database, caplog: pytest.LogCaptureFixture, target: Any, name: str, why: str
) -> None:
    note = await Note.create(text="hi")
    with _listening(target(db), name) as heard, plans_logged(caplog, Note) as plans:
        found = await Note.get(note.id)
    assert [(plan.route, plan.why) for plan in plans] == [(Route.ORM_STATEMENT, why)]
    # Among what it heard (a listener of the Session class also hears other sessions of
    # the process: another suite's background task may load meanwhile):
    if name == "load":
        assert any(args[0] is found for args in heard)
    elif name == "loaded_as_persistent":
        assert any(args[1] is found for args in heard)
    else:  # the ORM's SELECT of the entity, not a SELECT of columns
        assert any(args[1].column_descriptions[0]["entity"] is Note for args in heard)


async def test_a_mapping_loaded_otherwise_keeps_session_get(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    dog = await Dog.create(name="Rex", licence="L-1")
    with plans_logged(caplog, Dog) as plans:
        found = await Dog.get(dog.id)
    assert [(plan.route, plan.why) for plan in plans] == [
        (Route.ORM_STATEMENT, "inheritance: the loading picks the class by the row")
    ]
    assert _state_of(found) == _state_of(await _orm_get(db, Dog, dog.id))


class _Probe(DeclarativeBase):
    pass


class _Parent(_Probe):
    __tablename__ = "probe_parents"
    id: Mapped[int] = mapped_column(primary_key=True)
    children: Mapped[list[_Child]] = relationship(lazy="selectin")


class _Child(_Probe):
    __tablename__ = "probe_children"
    id: Mapped[int] = mapped_column(primary_key=True)
    parent_id: Mapped[int] = mapped_column(ForeignKey("probe_parents.id"))
    body: Mapped[str] = mapped_column(deferred=True)


class _Counted(_Probe):
    __tablename__ = "probe_counted"
    id: Mapped[int] = mapped_column(primary_key=True)
    doubled: Mapped[int] = column_property(id * 2)


class _Raising(_Probe):
    __tablename__ = "probe_raising"
    id: Mapped[int] = mapped_column(primary_key=True)
    parent_id: Mapped[int] = mapped_column(ForeignKey("probe_parents.id"))
    parent: Mapped[_Parent] = relationship(lazy="raise")


@pytest.mark.parametrize(
    ("model", "why"),
    [
        (Note, None),
        (User, None),  # lazy relationships, one of them view-only; a hybrid property
        (_Raising, None),  # lazy="raise": the same loader, raising on access
        (Dog, "inheritance: the loading picks the class by the row"),
        (_Parent, "the relationship 'children' is loaded with its object ('selectin')"),
        (_Child, "'body' is not loaded as a plain column (deferred, an expression)"),
        (_Counted, "'doubled' is not a column of the model's table"),
    ],
)
def test_which_mappings_load_plainly(model: type[Any], why: str | None) -> None:
    mapper = inspect(model)
    configure_for_load(mapper)
    assert why_not_plain_load(mapper) == why


def test_a_session_class_that_loads_otherwise_keeps_session_get() -> None:
    class Sharded(Session):
        def _identity_lookup(self, *args: Any, **kwargs: Any) -> Any:
            return super()._identity_lookup(*args, **kwargs)

    assert why_session_loads_otherwise(Sharded(), inspect(Note), None) == (  # type: ignore[arg-type]
        "the session class Sharded overrides _identity_lookup()"
    )


async def test_a_key_with_a_null_part_is_refused_before_any_route(db: Database) -> None:
    # get() refuses it as the caller's error; the proof would keep session.get (which
    # loads by IS NULL and warns) had it come this far.
    with pytest.raises(InvalidValueError):
        await Membership.get(("a", None))
    session = db._open_session(autocommit=True)
    try:
        assert why_load_differs(Membership, session, key=("a", None)) == (
            "a part of the key is None: the ORM loads by IS NULL"
        )
    finally:
        await session.close()


async def test_a_cancelled_get_gives_its_connection_back(db: Database) -> None:
    notes = [await Note.create(text=f"n{n}") for n in range(5)]
    for _ in range(20):
        task = asyncio.create_task(Note.get(notes[0].id))
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    for note in notes:
        assert (await Note.get(note.id)).text == note.text
    await asyncio.sleep(0.05)
    assert db._autocommit_engine.sync_engine.pool.checkedout() == 0
