"""No mapping a request can send reaches an option or a protected field (issue 16, part 1).

Hypothesis builds mappings whose keys mix the model's own fields, its protected
fields, every option name sqlrecord has ever read (``session``,
``auto_commit``, ``allow_protected``, ``with_deleted``, ...), the calls' own
parameter names (``data``, ``defaults``, ``rows``, ``pk`` ...) and random
text. Each call that takes field names gets the mapping splatted
(``**mapping``) and, where it takes one, as its positional mapping. Whatever
the mapping, on every database of the ``db`` fixture:

* a mapping with any key that is not a fillable field is refused with a typed
  error (:class:`InvalidFieldError` for the key, of which
  :class:`ProtectedFieldError` is one, or the error of a value checked before
  it), and the tables are exactly as before the call;
* no row ever has a protected column other than its default.

So an option key never binds to an option: it is refused as the unknown field
it is. Two signature checks make the same point without a database.
"""

from __future__ import annotations

import inspect
import itertools
import os
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from sqlrecord import Database, Q
from sqlrecord.exceptions import SQLRecordError

from .bad_input_figures import Figures, figures_fixture
from .helpers import table_snapshot
from .models import Post, User

SCALE = float(os.environ.get("HOSTILE_EXAMPLES", "1.0"))
FIGURES = Figures(
    "control_keywords", ("examples", "refused", "accepted", "rows_changed_by_refused")
)
report_figures = figures_fixture(FIGURES)

FILLABLE = ("email", "name", "age")
PROTECTED = tuple(sorted(User.__protected_attributes__))
# Every keyword any sqlrecord call takes, or took before options moved to using().
OPTIONS = (
    "session",
    "auto_commit",
    "allow_protected",
    "with_deleted",
    "batch_size",
    "return_objects",
    "conflict",
    "update",
)
PARAMETERS = ("data", "defaults", "rows", "pk", "pks", "unique", "values", "lookups", "self", "cls")
NOISE = ("csrf_token", "submit", "hidden_next")  # skipped by fill on purpose

keys = st.one_of(
    st.sampled_from(FILLABLE + PROTECTED + OPTIONS + PARAMETERS + NOISE),
    st.text(min_size=1, max_size=12),
)
values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=0, max_value=99),
    st.text(max_size=20),
    st.lists(st.sampled_from(PROTECTED), max_size=2),
    st.just(True),
)
clean_mappings = st.fixed_dictionaries(
    {"email": st.text(min_size=1, max_size=20)},
    optional={"name": st.text(max_size=20), "age": st.integers(0, 120), "csrf_token": st.text()},
)
# Half hostile, half a well-formed form, so that acceptance is exercised too.
mappings = st.one_of(st.dictionaries(keys, values, max_size=5), clean_mappings)

_emails = itertools.count()


def _fresh(mapping: dict[str, Any]) -> dict[str, Any]:
    """The mapping with a unique e-mail where it gives a text one (so a clean mapping
    can be accepted rather than refused as a duplicate)."""
    email = mapping.get("email")
    if isinstance(email, str):
        return {**mapping, "email": f"{email[:60]}-{next(_emails)}@example.com"}
    return mapping


def _clean(mapping: dict[str, Any]) -> bool:
    return all(key in FILLABLE or key in NOISE for key in mapping)


Call = Callable[[User, dict[str, Any]], Awaitable[Any]]

CALLS: dict[str, Call] = {
    "fill(**m)": lambda user, m: _done(User().fill(**m)),
    "fill(m)": lambda user, m: _done(User().fill(m)),
    "create(**m)": lambda user, m: User.create(**m),
    "create(m)": lambda user, m: User.create(m),
    "update(**m)": lambda user, m: user.update(**m),
    "update(m)": lambda user, m: user.update(m),
    "get_or_create(**m)": lambda user, m: User.get_or_create(**m),
    "get_or_create(defaults=m)": lambda user, m: User.get_or_create(
        m, email=f"goc-{next(_emails)}@example.com"
    ),
    "update_or_create(**m)": lambda user, m: User.update_or_create(**m),
    "create_or_update(**m)": lambda user, m: User.create_or_update(**m),
    "create_or_update(m)": lambda user, m: User.create_or_update(m),
    "bulk_create([m])": lambda user, m: User.bulk_create([m]),
    "upsert([m])": lambda user, m: User.upsert([m], conflict=["email"]),
    "get(**m)": lambda user, m: User.get(**m),
    "get_or_fail(**m)": lambda user, m: User.get_or_fail(**m),
    "filter_by(...).update(**m)": lambda user, m: User.filter_by(id=user.id).update(**m),
    "using(...).create(**m)": lambda user, m: User.using(auto_commit=False).create(**m),
}


async def _done(value: Any) -> Any:
    return value


# Calls that read: any key but a unique column is refused, and nothing is written.
READS = {"get(**m)", "get_or_fail(**m)"}

RUN = settings(
    max_examples=max(10, int(40 * SCALE)),
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


async def _snapshot(db: Database) -> list[tuple[Any, ...]]:
    return await table_snapshot(db, User, Post)


async def _protected_rows(db: Database) -> int:
    table = User.__table__  # type: ignore[attr-defined]
    condition = (table.c.is_admin.is_(True)) | (table.c.status != "active")
    async with db.engine.connect() as connection:
        return int(await connection.scalar(select(func.count()).where(condition)))


def _backend(db: Database) -> str:
    return db.engine.dialect.name.replace("mariadb", "mysql")


def test_calls_without_field_names_take_no_mapping() -> None:
    """``save`` and ``delete`` take options and no field names: nothing to splat a form into."""
    for method in (User.save, User.delete, User.load_related):
        kinds = {p.kind for p in inspect.signature(method).parameters.values()}
        assert inspect.Parameter.VAR_KEYWORD not in kinds, method


def test_calls_with_field_names_take_no_options() -> None:
    """Every call that takes ``**fields`` has no keyword-only parameter a key could bind to
    (``bulk_create``/``upsert`` take rows, whose keys cannot reach their keywords)."""
    calls = [User.fill, User.create, User.update, User.get_or_create, User.update_or_create]
    calls += [User.create_or_update, User.get, User.get_or_fail, User.filter_by, User.exists]
    calls += [User.exclude, Q]
    query = User.using()
    calls += [query.create, query.get_or_create, query.update_or_create, query.update]
    calls += [query.create_or_update, query.get, query.get_or_fail, query.filter_by]
    calls += [query.exclude]
    for call in calls:
        parameters = inspect.signature(call).parameters.values()
        named = [p.name for p in parameters if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)]
        assert named == [], (call, named)


@pytest.mark.reliability
@pytest.mark.driver_agnostic  # which keys reach which option: sqlrecord's, not the driver's
@pytest.mark.parametrize("call", sorted(CALLS))
@RUN
@given(mapping=mappings)
async def test_no_mapping_reaches_an_option_or_a_protected_field(
    db: Database, call: str, mapping: dict[str, Any]
) -> None:
    backend = _backend(db)
    mapping = _fresh(mapping)
    user = await User.create(email=f"seed-{next(_emails)}@example.com")
    before = await _snapshot(db)
    FIGURES.add(backend, examples=1)
    refused: SQLRecordError | None = None
    try:
        await CALLS[call](user, mapping)
    except SQLRecordError as error:
        refused = error
    if not _clean(mapping) or (call in READS and set(mapping) - {"email", "id"}):
        # Some key is no fillable field: the call must refuse the mapping (that key, or
        # a value it checked first) with a typed error, before writing anything.
        assert refused is not None, (call, mapping)
        after = await _snapshot(db)
        FIGURES.add(backend, refused=1, rows_changed_by_refused=len(set(before) ^ set(after)))
        assert after == before, (call, mapping)
    else:
        FIGURES.add(backend, accepted=int(refused is None))
    assert await _protected_rows(db) == 0, (call, mapping)
