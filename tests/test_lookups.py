"""Every lookup operator, on every database, with the same expected rows everywhere."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from sqlrecord import Database, Q
from sqlrecord._lookup_keys import OPERATORS
from sqlrecord.exceptions import InvalidValueError

from .fixtures_data import load_sample
from .helpers import StatementLog
from .models import Post, User

THIS_YEAR = dt.datetime.now(dt.UTC).year
KIM, LEE, PARK, KIMBERLY = "kim@example.com", "lee@Example.org", "park@example.com", "KIM2@test.io"

# (lookups, emails expected). Case rules: contains/startswith/endswith/like are
# case-sensitive and literal on every database; the i-forms fold case.
USER_CASES: list[tuple[dict[str, Any], set[str]]] = [
    ({"name": "Kim"}, {KIM}),
    ({"name__eq": "Kim"}, {KIM}),
    ({"name": None}, {PARK}),
    ({"name__ne": "Kim"}, {LEE, KIMBERLY}),
    ({"name__ne": None}, {KIM, LEE, KIMBERLY}),
    ({"age__gt": 30}, {KIMBERLY}),
    ({"age__ge": 30}, {KIM, KIMBERLY}),
    ({"age__gte": 30}, {KIM, KIMBERLY}),
    ({"age__lt": 30}, {LEE}),
    ({"age__le": 30}, {KIM, LEE}),
    ({"age__lte": 30}, {KIM, LEE}),
    ({"age__in": [25, 41, 99]}, {LEE, KIMBERLY}),
    ({"age__in": []}, set()),
    ({"age__notin": [25, 41]}, {KIM}),
    ({"age__notin": []}, {KIM, LEE, PARK, KIMBERLY}),
    ({"age__between": (25, 30)}, {KIM, LEE}),
    ({"age__isnull": True}, {PARK}),
    ({"age__isnull": False}, {KIM, LEE, KIMBERLY}),
    ({"name__like": "Kim%"}, {KIM}),
    ({"name__like": "kim%"}, set()),
    ({"name__like": "K_m"}, {KIM}),
    ({"name__ilike": "kim%"}, {KIM, KIMBERLY}),
    ({"name__contains": "im"}, {KIM}),
    ({"name__contains": "IM"}, {KIMBERLY}),
    ({"name__contains": "_%"}, {LEE}),
    ({"name__contains": "%"}, {LEE}),
    ({"name__contains": "e_"}, {LEE}),
    ({"name__contains": "ee_"}, {LEE}),
    ({"name__contains": "e__"}, set()),
    ({"name__icontains": "im"}, {KIM, KIMBERLY}),
    ({"name__icontains": "_%"}, {LEE}),
    ({"name__startswith": "K"}, {KIM, KIMBERLY}),
    ({"name__startswith": "k"}, set()),
    ({"name__startswith": "l"}, {LEE}),
    ({"name__istartswith": "k"}, {KIM, KIMBERLY}),
    ({"name__endswith": "Y"}, {KIMBERLY}),
    ({"name__endswith": "y"}, set()),
    ({"name__endswith": "%"}, {LEE}),
    ({"name__iendswith": "y"}, {KIMBERLY}),
    ({"email__endswith": ".com"}, {KIM, PARK}),
    ({"email__endswith": ""}, {KIM, LEE, PARK, KIMBERLY}),
    ({"email__contains": "example"}, {KIM, PARK}),
    ({"email__icontains": "EXAMPLE"}, {KIM, LEE, PARK}),
    ({"email__iendswith": ".ORG"}, {LEE}),
    ({"created_at__year": THIS_YEAR}, {KIM, LEE, PARK, KIMBERLY}),
    ({"created_at__year__gte": 2000}, {KIM, LEE, PARK, KIMBERLY}),
    ({"created_at__year__lt": 2000}, set()),
    ({"created_at__month__between": (1, 12)}, {KIM, LEE, PARK, KIMBERLY}),
    ({"created_at__day__gte": 1}, {KIM, LEE, PARK, KIMBERLY}),
    ({"created_at__gte": dt.datetime(2000, 1, 1, tzinfo=dt.UTC)}, {KIM, LEE, PARK, KIMBERLY}),
    ({"created_at__lt": dt.datetime(2000, 1, 1, tzinfo=dt.UTC)}, set()),
    # relationship paths: one-to-many, nested, many-to-many
    ({"posts__title__contains": "World"}, {KIM}),
    ({"posts__title__icontains": "hello"}, {KIM}),
    ({"posts__title": "Hello World", "posts__body": "first"}, {KIM}),
    ({"posts__title": "Hello World", "posts__body": "x"}, set()),
    ({"posts__comments__body__contains": "x"}, {KIM}),
    ({"posts__comments__body__contains": "X"}, set()),
    ({"posts__tags__label": "sql"}, {KIM}),
    ({"posts__isnull": True}, {PARK, KIMBERLY}),
    ({"posts__isnull": False}, {KIM, LEE}),
    ({"posts__body": None}, {LEE}),
    # hybrid property with an expression
    ({"display_name": PARK}, {PARK}),
    ({"display_name__startswith": "KIM"}, {KIMBERLY}),
]

POST_CASES: list[tuple[dict[str, Any], set[str]]] = [
    ({"author__name": "Kim"}, {"Hello World", "Again, hello"}),
    ({"author__name__icontains": "LEE"}, {"Other"}),
    ({"author__age__gte": 26}, {"Hello World", "Again, hello"}),
    ({"author__posts__title": "Other"}, {"Other"}),
    ({"tags__label__in": ["python", "go"]}, {"Hello World", "Again, hello"}),
    ({"tags__isnull": True}, {"Other"}),
    ({"comments__body__istartswith": "NICE"}, {"Hello World"}),
    ({"body__isnull": True}, {"Other"}),
]


def _id(case: tuple[dict[str, Any], set[str]]) -> str:
    return ",".join(f"{key}={value!r}" for key, value in case[0].items())


@pytest.fixture
async def sample(db: Database) -> None:
    await load_sample(db)


@pytest.mark.parametrize("case", USER_CASES, ids=[_id(case) for case in USER_CASES])
async def test_user_lookup(
    db: Database, sample: None, case: tuple[dict[str, Any], set[str]]
) -> None:
    lookups, expected = case
    query = User.filter_by(**lookups)
    rows = await query.all()
    assert {user.email for user in rows} == expected
    # Filtering through a to-many relationship never repeats a parent row.
    assert len(rows) == len(expected) == await query.count()


@pytest.mark.parametrize("case", POST_CASES, ids=[_id(case) for case in POST_CASES])
async def test_post_lookup(
    db: Database, sample: None, case: tuple[dict[str, Any], set[str]]
) -> None:
    lookups, expected = case
    rows = await Post.filter_by(**lookups).all()
    assert sorted(post.title for post in rows) == sorted(expected)


def test_every_operator_is_covered() -> None:
    used = {
        key.split("__")[-1]
        for lookups, _ in USER_CASES + POST_CASES
        for key in lookups
        if key.split("__")[-1] in OPERATORS
    }
    assert used == set(OPERATORS)


async def test_exclude_and_q_objects(db: Database, sample: None) -> None:
    assert {u.email for u in await User.exclude(name__startswith="K")} == {LEE, PARK}
    either = Q(age__gt=40) | Q(name="Kim")
    assert {u.email for u in await User.filter(either)} == {KIM, KIMBERLY}
    assert {u.email for u in await User.filter(~either)} == {LEE, PARK}
    mixed = Q(User.age < 30) | Q(name=None)
    assert {u.email for u in await User.filter(mixed)} == {LEE, PARK}
    both = Q(name__istartswith="kim") & Q(User.age > 35)
    assert {u.email for u in await User.filter(both)} == {KIMBERLY}
    raw_first = (User.age > 35) | Q(name="Kim")
    assert {u.email for u in await User.filter(raw_first)} == {KIM, KIMBERLY}


async def test_hybrid_method_filters_and_sorts(db: Database, sample: None) -> None:
    older = await User.filter(User.is_older_than(28)).order_by(User.age.desc()).all()
    assert [u.email for u in older] == [KIMBERLY, KIM]
    # Text order follows the column's collation (case-insensitive by default on
    # MySQL/MariaDB), so compare names that differ in their first letter.
    chosen = User.filter_by(email__in=[PARK, LEE, KIM]).order_by("-display_name")
    assert await chosen.values_list("email", flat=True) == [PARK, LEE, KIM]


async def test_a_huge_year_is_refused_before_any_sql(db: Database) -> None:
    # Found by the hostile-input suite: SQLite could not bind it (an OverflowError).
    with StatementLog(db) as log, pytest.raises(InvalidValueError, match="32-bit"):
        await User.filter_by(created_at__year=2**63).all()
    assert log.statements == []
