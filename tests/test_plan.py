"""The planner, without a database: each route's conditions and each ``why``.

``sqlrecord._plan`` decides every call's route, transaction and SAVEPOINT from
facts that need no connection: whether the session is the caller's, what the
database allows, and what the session holds. These tests give it those facts
directly; ``test_one_statement.py`` checks on the three databases that the route
planned is the route taken.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import create_engine, delete, event, insert, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, make_transient_to_detached

from sqlrecord import _plan
from sqlrecord._plan import (
    Plan,
    Route,
    Savepoint,
    Transaction,
    UnitFacts,
    plan_bulk_insert,
    plan_delete_begin,
    plan_flush,
    plan_load,
    plan_query_write,
    plan_read,
    plan_statement_write,
)
from sqlrecord._plan_rules import (
    FAST_PATHS_OFF,
    NO_FREE_AUTOCOMMIT,
    ONE_WRITE_STATEMENT,
    PINNED,
    SAVEPOINTS_OFF,
    SERVED,
    SERVED_WRITE,
    STREAMING,
)

from .models import Article, Dog, Invoice, Note, Post, User

FAST = UnitFacts(fast_paths=True, autocommit=True, savepoints_off=False)
REFERENCE = UnitFacts(fast_paths=False, autocommit=True, savepoints_off=False)
MYSQL = UnitFacts(fast_paths=True, autocommit=False, savepoints_off=False)
NO_SAVEPOINTS = UnitFacts(fast_paths=True, autocommit=True, savepoints_off=True)
# sqlrecord.testing: a test's transaction holds the database's one connection.
IN_A_TEST = UnitFacts(fast_paths=True, autocommit=True, savepoints_off=False, pinned=True)


def _flush_plan(obj: Any, session: Session | None = None, **facts: Any) -> Plan:
    session = session if session is not None else Session()
    if obj not in session:
        session.add(obj)
    options = {"served": False, "unit": FAST, "begun": None, **facts}
    return plan_flush("save", obj, session, **options)


# -- reads ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("served", "unit", "cursor", "transaction", "why"),
    [
        (True, FAST, False, Transaction.SERVED, SERVED),
        (True, FAST, True, Transaction.SERVED, SERVED),
        (False, FAST, False, Transaction.AUTOCOMMIT, "one statement: a transaction by itself"),
        (False, FAST, True, Transaction.OWN, STREAMING),
        (False, REFERENCE, False, Transaction.OWN, FAST_PATHS_OFF),
        (False, MYSQL, False, Transaction.OWN, NO_FREE_AUTOCOMMIT),
        (False, IN_A_TEST, False, Transaction.OWN, PINNED),
        (True, IN_A_TEST, False, Transaction.SERVED, SERVED),
    ],
)
def test_a_read_runs_in_autocommit_only_in_an_own_session_that_allows_it(
    served: bool, unit: UnitFacts, cursor: bool, transaction: Transaction, why: str
) -> None:
    plan = plan_read("all", User, served=served, unit=unit, cursor=cursor)
    assert (plan.route, plan.transaction, plan.savepoint, plan.why) == (
        Route.ORM_STATEMENT,
        transaction,
        Savepoint.NONE,
        why,
    )


@pytest.mark.parametrize(
    ("unit", "held", "route"),
    [
        (FAST, True, Route.IDENTITY_HIT),
        (FAST, False, Route.ORM_STATEMENT),
        (REFERENCE, True, Route.ORM_STATEMENT),
        (IN_A_TEST, True, Route.IDENTITY_HIT),
    ],
)
def test_get_takes_the_identity_map_only_when_held_and_allowed(
    unit: UnitFacts, held: bool, route: Route
) -> None:
    read = plan_read("get", User, served=True, unit=unit)
    plan = plan_load(read, unit=unit, model=User, session=_NO_SESSION, held=held, key=(7,))
    assert plan.route is route
    assert plan.transaction is Transaction.SERVED
    if route is Route.IDENTITY_HIT:
        assert "without SQL" in plan.why
    else:
        assert plan is read


#: A served get never asks whether its row could be read alone (it never is).
_NO_SESSION: Any = None


@pytest.mark.parametrize(
    ("unit", "against", "route"),
    [
        (FAST, None, Route.CONNECTION_LOAD),
        (FAST, "a 'load' listener watches the loaded objects", Route.ORM_STATEMENT),
        (REFERENCE, None, Route.ORM_STATEMENT),
        (MYSQL, None, Route.ORM_STATEMENT),
        (IN_A_TEST, None, Route.ORM_STATEMENT),
    ],
)
def test_an_own_get_reads_its_row_alone_only_in_autocommit_and_where_nothing_differs(
    unit: UnitFacts, against: str | None, route: Route, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_plan, "why_load_differs", lambda *args, **kwargs: against)
    read = plan_read("get", User, served=False, unit=unit)
    plan = plan_load(read, unit=unit, model=User, session=AsyncSession(), key=(7,))
    assert plan.route is route
    if route is Route.CONNECTION_LOAD:
        assert plan.transaction is Transaction.AUTOCOMMIT
        assert str(plan).startswith("User.get: objects loaded on a connection, autocommit")
    elif against is not None:
        assert plan == read._replace(why=against)
    else:
        assert plan is read


# -- one object's flush -------------------------------------------------------------


def test_a_new_object_alone_is_one_statement_in_autocommit() -> None:
    plan = _flush_plan(Note(text="a", code="n1"))
    assert (plan.route, plan.transaction, plan.savepoint) == (
        Route.ORM_FLUSH,
        Transaction.AUTOCOMMIT,
        Savepoint.NONE,
    )
    assert plan.why == "one statement writing this object alone"
    assert str(plan).startswith("Note.save: ORM flush, autocommit transaction, no SAVEPOINT")


def test_a_versioned_row_is_still_one_statement() -> None:
    assert _flush_plan(Invoice(number="I-1")).transaction is Transaction.AUTOCOMMIT


@pytest.mark.parametrize(
    ("unit", "why"),
    [(REFERENCE, FAST_PATHS_OFF), (MYSQL, NO_FREE_AUTOCOMMIT), (IN_A_TEST, PINNED)],
)
def test_an_own_flush_keeps_its_transaction_where_autocommit_is_not_allowed(
    unit: UnitFacts, why: str
) -> None:
    plan = _flush_plan(Note(text="a", code="n1"), unit=unit)
    assert (plan.transaction, plan.why) == (Transaction.OWN, why)


def test_a_begun_session_keeps_its_transaction_and_says_why_it_began() -> None:
    plan = _flush_plan(Note(text="a", code="n1"), begun="it read something first")
    assert (plan.transaction, plan.why) == (Transaction.OWN, "it read something first")


def test_another_pending_object_rules_out_autocommit() -> None:
    session = Session()
    session.add(Note(text="other", code="n2"))
    plan = _flush_plan(Note(text="a", code="n1"), session=session)
    assert (plan.transaction, plan.why) == (Transaction.OWN, "the flush writes another object too")


def test_joined_table_inheritance_writes_a_row_per_table() -> None:
    plan = _flush_plan(Dog(name="Rex", licence="L-1"))
    assert plan.transaction is Transaction.OWN
    assert plan.why == "joined-table inheritance: a row in each table"


def test_a_changed_relationship_is_a_statement_on_another_row() -> None:
    post = Post(id=1, title="t", author_id=1)
    make_transient_to_detached(post)  # as if loaded
    session = Session()
    session.add(post)
    post.author = None  # type: ignore[assignment]
    assert list(session.dirty) == [post]
    plan = _flush_plan(post, session=session)
    assert plan.transaction is Transaction.OWN
    assert plan.why == "relationship 'author' changed: the flush may write another row"


@pytest.fixture
def session_listener() -> Iterator[Session]:
    session = Session()

    def noop(*_args: Any) -> None:
        return None

    event.listen(session, "before_flush", noop)
    yield session
    event.remove(session, "before_flush", noop)


def test_a_session_hook_may_write_so_the_transaction_stays(session_listener: Session) -> None:
    plan = _flush_plan(Note(text="a", code="n1"), session=session_listener)
    assert plan.why == "a session 'before_flush' listener may write"


def test_a_mapper_hook_may_write_so_the_transaction_stays() -> None:
    def noop(*_args: Any) -> None:
        return None

    event.listen(Note, "after_insert", noop)
    try:
        plan = _flush_plan(Note(text="a", code="n1"))
    finally:
        event.remove(Note, "after_insert", noop)
    assert (plan.transaction, plan.why) == (Transaction.OWN, "a 'after_insert' listener may write")


@pytest.mark.parametrize(
    ("unit", "savepoint", "why"),
    [(FAST, Savepoint.ORM, SERVED_WRITE), (NO_SAVEPOINTS, Savepoint.NONE, SAVEPOINTS_OFF)],
)
def test_a_served_write_takes_a_savepoint_unless_the_unit_gave_them_up(
    unit: UnitFacts, savepoint: Savepoint, why: str
) -> None:
    flush = _flush_plan(Note(text="a", code="n1"), served=True, unit=unit)
    statement = plan_statement_write("update", Note, served=True, unit=unit)
    for plan in (flush, statement):
        assert (plan.transaction, plan.savepoint, plan.why) == (Transaction.SERVED, savepoint, why)


def test_a_statement_write_in_an_own_session_begins() -> None:
    plan = plan_statement_write("update", Note, served=False, unit=FAST)
    assert (plan.route, plan.transaction, plan.savepoint) == (
        Route.ORM_STATEMENT,
        Transaction.OWN,
        Savepoint.NONE,
    )


# -- UPDATE and DELETE by query ------------------------------------------------------

ALONE = {"synchronize_session": False}  # what an own session's Query.update/delete sends


def _query_write_plan(statement: Any, session: Session | None = None, **facts: Any) -> Plan:
    options = {"served": False, "unit": FAST, "begun": None, **facts}
    model = statement.entity_description["entity"]
    return plan_query_write("update", model, statement, session or Session(), **options)


@pytest.mark.parametrize(
    "statement",
    [
        update(Note).where(Note.id == 1).values(text="b"),
        update(Note).values(text=Note.code + "!"),  # an F expression
        delete(Note).where(Note.id == 1),
        update(Article).values(deleted_at=None),  # a soft delete, or its undoing
        update(User).where(User.posts.any(Post.title == "t")).values(name="Kim"),  # EXISTS
        update(Invoice).values(amount=1),  # a version counter: a query does not bump it
    ],
    ids=["update", "F", "delete", "soft-delete", "EXISTS", "versioned"],
)
def test_a_query_write_that_is_one_statement_runs_in_autocommit(statement: Any) -> None:
    # Nothing listens to the session: the statement goes on a connection of its own.
    plan = _query_write_plan(statement.execution_options(**ALONE))
    assert (plan.route, plan.transaction, plan.savepoint, plan.why) == (
        Route.CONNECTION_STATEMENT,
        Transaction.AUTOCOMMIT,
        Savepoint.NONE,
        ONE_WRITE_STATEMENT,
    )


def test_a_query_write_in_autocommit_keeps_a_session_something_listens_to() -> None:
    session = Session()
    event.listen(session, "after_commit", lambda *arguments: None)
    plan = _query_write_plan(update(Note).values(text="b").execution_options(**ALONE), session)
    assert (plan.route, plan.transaction) == (Route.ORM_STATEMENT, Transaction.AUTOCOMMIT)


@pytest.mark.parametrize(
    ("unit", "why"),
    [(REFERENCE, FAST_PATHS_OFF), (MYSQL, NO_FREE_AUTOCOMMIT), (IN_A_TEST, PINNED)],
)
def test_an_own_query_write_keeps_its_transaction_where_autocommit_is_not_allowed(
    unit: UnitFacts, why: str
) -> None:
    plan = _query_write_plan(update(Note).values(text="b").execution_options(**ALONE), unit=unit)
    assert (plan.transaction, plan.why) == (Transaction.OWN, why)


@pytest.mark.parametrize(
    ("statement", "why"),
    [
        (
            update(Note).values(text="b").execution_options(synchronize_session="fetch"),
            "synchronize_session='fetch': the matched keys may be selected first",
        ),
        (
            delete(Note),  # the ORM's default, "auto", may fall back to "fetch"
            "synchronize_session='auto': the matched keys may be selected first",
        ),
        (
            update(Dog)
            .where(Dog.licence == "L-1")
            .values(licence="L-2")
            .execution_options(**ALONE),
            "joined-table inheritance: the write may reach each of the model's tables",
        ),
        (insert(Note).values(text="a"), "not an UPDATE or DELETE"),
    ],
    ids=["fetch", "auto", "joined-table", "insert"],
)
def test_a_query_write_that_may_send_more_keeps_its_transaction(statement: Any, why: str) -> None:
    plan = _query_write_plan(statement)
    assert (plan.route, plan.transaction, plan.why) == (Route.ORM_STATEMENT, Transaction.OWN, why)


@pytest.mark.parametrize(
    "hook",
    [
        "do_orm_execute",
        "after_bulk_update",
        "after_bulk_delete",
        "before_flush",
        "after_begin",
        "before_commit",
    ],
)
def test_a_session_hook_may_write_so_a_query_write_keeps_its_transaction(hook: str) -> None:
    session = Session()

    def noop(*_args: Any) -> None:
        return None

    event.listen(session, hook, noop)
    plan = _query_write_plan(update(Note).values(text="b").execution_options(**ALONE), session)
    assert (plan.transaction, plan.why) == (
        Transaction.OWN,
        f"a session {hook!r} listener may write",
    )


def test_a_session_with_changes_flushes_them_before_the_query_write() -> None:
    session = Session()
    session.add(Note(text="pending", code="n1"))
    plan = _query_write_plan(update(Note).values(text="b").execution_options(**ALONE), session)
    assert plan.why == "the session has changes: they are flushed first"


def test_a_query_write_in_a_begun_session_says_why_it_began() -> None:
    statement = update(Note).values(text="b").execution_options(**ALONE)
    plan = _query_write_plan(statement, begun="the session had begun already")
    assert (plan.transaction, plan.why) == (Transaction.OWN, "the session had begun already")


@pytest.mark.parametrize(
    ("unit", "savepoint", "why"),
    [(FAST, Savepoint.ORM, SERVED_WRITE), (NO_SAVEPOINTS, Savepoint.NONE, SAVEPOINTS_OFF)],
)
def test_a_served_query_write_takes_a_savepoint(
    unit: UnitFacts, savepoint: Savepoint, why: str
) -> None:
    statement = update(Note).values(text="b").execution_options(synchronize_session="fetch")
    plan = _query_write_plan(statement, served=True, unit=unit)
    assert (plan.transaction, plan.savepoint, plan.why) == (Transaction.SERVED, savepoint, why)


# -- delete -------------------------------------------------------------------------


def test_delete_begins_first_when_it_loads_related_rows() -> None:
    assert plan_delete_begin(Note) is None
    assert plan_delete_begin(User) == (
        "relationship 'posts' is one-to-many: deleting loads and updates the children"
    )
    assert plan_delete_begin(Dog) == "joined-table inheritance: a row in each table"


# -- bulk_create --------------------------------------------------------------------


def test_bulk_create_of_an_unwatched_model_is_a_core_insert() -> None:
    plan, rows = plan_bulk_insert(Note, Session(), served=False, unit=FAST, return_objects=False)
    assert (plan.route, plan.transaction) == (Route.CORE_INSERT, Transaction.OWN)
    assert rows is not None
    table, as_row = rows
    assert table.name == Note.__table__.name  # type: ignore[attr-defined]
    assert as_row({"text": "a", "code": "n1"}) == {"text": "a", "code": "n1"}


@pytest.mark.parametrize(
    ("model", "unit", "return_objects", "why"),
    [
        (Note, FAST, True, "the objects are wanted back"),
        (Note, REFERENCE, False, FAST_PATHS_OFF),
        (Invoice, FAST, False, "a version counter: the objects set it"),
        (Dog, FAST, False, "inheritance: the objects set the discriminator"),
    ],
)
def test_bulk_create_keeps_the_objects_when_anything_could_tell(
    model: type[Any], unit: UnitFacts, return_objects: bool, why: str
) -> None:
    plan, rows = plan_bulk_insert(
        model, Session(), served=False, unit=unit, return_objects=return_objects
    )
    assert (plan.route, plan.why, rows) == (Route.ORM_FLUSH, why, None)


def test_bulk_create_sees_a_validator() -> None:
    def upper(_target: Any, value: Any, *_args: Any) -> Any:
        return value

    event.listen(Note.text, "set", upper)
    try:
        plan, rows = plan_bulk_insert(
            Note, Session(), served=False, unit=FAST, return_objects=False
        )
    finally:
        event.remove(Note.text, "set", upper)
    assert (plan.route, rows) == (Route.ORM_FLUSH, None)
    assert plan.why == "a 'set' listener (a validator?) watches 'text'"


def test_a_served_bulk_create_takes_the_savepoint_and_names_the_route() -> None:
    plan, _ = plan_bulk_insert(Note, Session(), served=True, unit=FAST, return_objects=False)
    assert (plan.route, plan.transaction, plan.savepoint) == (
        Route.CORE_INSERT,
        Transaction.SERVED,
        Savepoint.ORM,
    )


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("sqlite://", None),  # RETURNING on INSERT and UPDATE
        ("mysql+pymysql://", "cannot return 'created_at' from the INSERT"),
    ],
)
def test_values_read_back_by_a_second_select_keep_the_transaction(
    url: str, why: str | None
) -> None:
    # BaseModel's timestamps with eager_defaults=True: where the dialect cannot return
    # them, the ORM SELECTs them after the write, and in autocommit that SELECT could
    # read another writer's values. (No connection is made: the dialect's defaults.)
    plan = _flush_plan(User(email="a@example.com"), Session(bind=create_engine(url)))
    if why is None:
        assert plan.transaction is Transaction.AUTOCOMMIT
    else:
        assert plan.transaction is Transaction.OWN and why in plan.why
    plan = _flush_plan(Note(text="no computed values"), Session(bind=create_engine(url)))
    assert plan.transaction is Transaction.AUTOCOMMIT
