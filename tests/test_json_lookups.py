"""Lookups, values and ordering inside JSON fields: the same rows and Python values on
SQLite, PostgreSQL (``json`` and ``jsonb``) and MariaDB, and every bad key or value
refused before SQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import (
    JSON,
    Dialect,
    ForeignKey,
    Integer,
    String,
    TypeDecorator,
    func,
    insert,
    literal,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeEngine

from sqlrecord import CRUDMixin, Database, Q, RequestFilters
from sqlrecord.exceptions import InvalidFieldError, InvalidValueError

from .helpers import StatementLog


class JsonbOnPostgres(TypeDecorator[Any]):
    """A team's usual JSON type: ``jsonb`` on PostgreSQL, JSON elsewhere."""

    impl = JSON
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(postgresql.JSONB())
        return dialect.type_descriptor(JSON())


class JlBase(DeclarativeBase):
    pass


class Doc(CRUDMixin, JlBase):
    __tablename__ = "jl_docs"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(20))
    data: Mapped[Any] = mapped_column(JSON, nullable=True)  # json on PostgreSQL
    datab: Mapped[Any] = mapped_column(JsonbOnPostgres, nullable=True)  # jsonb there
    notes: Mapped[list[Note]] = relationship(back_populates="doc")


class Note(CRUDMixin, JlBase):
    __tablename__ = "jl_notes"

    id: Mapped[int] = mapped_column(primary_key=True)
    text: Mapped[str] = mapped_column(String(20))
    doc_id: Mapped[int] = mapped_column(ForeignKey("jl_docs.id"))
    doc: Mapped[Doc] = relationship(back_populates="notes")


HOSTILE = ["a.b", 'a"b', "$[0]", "x' OR 1=1 --", "a\\b", "*", " sp ", "[1]", "é", "日本", "$"]

DOCS: dict[str, Any] = {
    "dark": {
        "theme": "dark",
        "count": 3,
        "rank": 2.5,
        "beta": True,
        "ui": {"theme": "dark", "size": 12},
        "tags": ["x", "y", 1],
        "label": "Blue Sky",
    },
    "light": {
        "theme": "light",
        "count": 1,
        "rank": -1,
        "beta": False,
        "ui": {"theme": "light", "flags": {"a": None}},
        "tags": ["y"],
        "label": "blue  ",
    },
    "null": {"theme": None, "count": "3", "one": 1, "ui": None, "label": "Ünïcode"},
    "empty": {},
    "odd": {**{key: position for position, key in enumerate(HOSTILE)}, "tags": [[1], {"x": 1}]},
    "scalar": "theme",
    "list": ["theme", 1],
    "sqlnull": None,
}


@pytest.fixture(scope="module", autouse=True)
async def _drop_tables() -> AsyncIterator[None]:
    yield
    for database in _prepared:
        async with database.engine.begin() as connection:
            await connection.run_sync(JlBase.metadata.drop_all)


_prepared: list[Database] = []


@pytest.fixture
async def docs(db: Database) -> Database:
    """This module's tables and rows, written once per database (tests only read)."""
    if db not in _prepared:
        async with db.engine.begin() as connection:
            await connection.run_sync(JlBase.metadata.drop_all)
            await connection.run_sync(JlBase.metadata.create_all)
            rows = [
                {"id": number, "name": name, "data": document, "datab": document}
                for number, (name, document) in enumerate(DOCS.items(), 1)
            ]
            await connection.execute(insert(Doc), rows)
            notes = [
                {"id": 1, "text": "on dark", "doc_id": 1},
                {"id": 2, "text": "on odd", "doc_id": 5},
            ]
            await connection.execute(insert(Note), notes)
        _prepared.append(db)
    return db


async def names(*conditions: Any, **lookups: Any) -> set[str]:
    return {doc.name for doc in await Doc.filter(*conditions).filter_by(**lookups)}


CASES: list[tuple[str, Any, set[str]]] = [
    ("theme", "dark", {"dark"}),
    ("theme__eq", "light", {"light"}),
    ("theme", "DARK", set()),
    ("ui__theme", "dark", {"dark"}),
    ("ui__flags__a", None, {"light"}),
    ("count", 3, {"dark"}),
    ("count", 3.0, {"dark"}),
    ("count", "3", {"null"}),
    ("count__gte", 1, {"dark", "light"}),
    ("count__gt", 1, {"dark"}),
    ("count__lt", 3, {"light"}),
    ("rank__lte", 2.5, {"dark", "light"}),
    ("rank__between", (-1, 0), {"light"}),
    ("count__between", ("1", "4"), {"null"}),
    ("theme__gt", "dark", {"light"}),
    ("theme__lt", "light", {"dark"}),
    ("beta", True, {"dark"}),
    ("beta", False, {"light"}),
    ("one", True, set()),
    ("one", 1, {"null"}),
    ("theme", None, {"null"}),
    ("ui", None, {"null"}),
    ("theme__isnull", True, {"empty", "odd", "scalar", "list", "sqlnull"}),
    ("theme__isnull", False, {"dark", "light", "null"}),
    ("ui__theme__isnull", True, {"null", "empty", "odd", "scalar", "list", "sqlnull"}),
    ("theme__ne", "dark", {"light", "null"}),
    ("theme__ne", None, {"dark", "light"}),
    ("beta__ne", True, {"light"}),
    ("theme__in", ["dark", "light", "x"], {"dark", "light"}),
    ("count__in", [1, "3"], {"light", "null"}),
    ("beta__in", [True], {"dark"}),
    ("theme__in", [], set()),
    ("theme__notin", ["dark"], {"light", "null"}),
    ("has_key", "theme", {"dark", "light", "null"}),
    ("has_key", "nope", set()),
    ("ui__has_key", "flags", {"light"}),
    ("ui__flags__has_key", "a", {"light"}),
    ("contains", {"theme": "dark"}, {"dark"}),
    ("contains", {"ui": {"theme": "light"}}, {"light"}),
    ("contains", {"ui": {}}, {"dark", "light"}),
    ("contains", {}, {"dark", "light", "null", "empty", "odd"}),
    ("contains", {"beta": True, "count": 3}, {"dark"}),
    ("contains", {"count": 1.0}, {"light"}),
    ("contains", {"theme": None}, {"null"}),
    ("contains", {"tags": ["y"]}, {"dark", "light"}),
    ("contains", {"tags": ["y", "x", "x"]}, {"dark"}),
    ("contains", {"tags": "y"}, set()),  # a scalar is not contained in an array
    ("contains", ["theme"], {"list"}),
    ("contains", [], {"list"}),
    ("tags__contains", [1], {"dark"}),
    ("tags__contains", [1.0, "x"], {"dark"}),
    ("tags__contains", ["1"], set()),
    ("tags__contains", [True], set()),
    ("label__icontains", "BLUE", {"dark", "light"}),
    ("label__contains", {"a": 1}, set()),
    ("label__startswith", "Blue", {"dark"}),
    ("label__iendswith", "SKY", {"dark"}),
    ("label__endswith", " ", {"light"}),
    ("label", "blue", set()),  # no trailing-space padding
    ("label", "Ünïcode", {"null"}),
    ("label__like", "B%y", {"dark"}),
    ("label__istartswith", "ü", {"null"}),
    ("year", 1, set()),  # a transform name is a key inside JSON
    ("theme__year", 1, set()),
]


@pytest.mark.parametrize("field", ["data", "datab"])
@pytest.mark.parametrize(("lookup", "value", "expected"), CASES, ids=[c[0] for c in CASES])
async def test_lookup_matches_the_same_rows_everywhere(
    docs: Database, field: str, lookup: str, value: Any, expected: set[str]
) -> None:
    assert await names(**{f"{field}__{lookup}": value}) == expected


@pytest.mark.parametrize("key", HOSTILE)
async def test_hostile_keys_match_only_the_key_spelled_so(docs: Database, key: str) -> None:
    position = HOSTILE.index(key)
    assert await names(**{f"data__{key}": position}) == {"odd"}
    assert await names(**{"datab__has_key": key}) == {"odd"}
    assert await names(**{"data__contains": {key: position}}) == {"odd"}
    assert await Doc.filter_by(name="odd").values_list(f"data__{key}", flat=True) == [position]
    # near misses find nothing
    assert await names(**{f"data__{key}x": position}) == set()
    assert await names(**{f"data__{key.upper()}_": position}) == set()


async def test_injection_through_a_key_changes_nothing(docs: Database) -> None:
    assert await names(**{"data__x' OR 1=1 --__isnull": False}) == {"odd"}
    assert await names(**{'data__") OR 1=1 --': 1}) == set()
    assert await Doc.filter_by().count() == len(DOCS)


async def test_values_decode_every_json_type(docs: Database) -> None:
    rows = await Doc.order_by("id").values("name", "data__ui", "datab__rank", "data__tags")
    found = {row["name"]: row for row in rows}
    assert found["dark"]["data__ui"] == {"theme": "dark", "size": 12}
    assert found["light"]["datab__rank"] == -1 and type(found["light"]["datab__rank"]) is int
    assert found["dark"]["datab__rank"] == 2.5 and type(found["dark"]["datab__rank"]) is float
    assert found["dark"]["data__tags"] == ["x", "y", 1]
    assert found["null"]["data__ui"] is None  # JSON null
    assert found["empty"]["data__ui"] is None  # missing
    flat = await Doc.order_by("id").values_list("data__theme", flat=True)
    assert flat == ["dark", "light", None, None, None, None, None, None]
    beta = await Doc.order_by("id").values_list("datab__beta", flat=True)
    assert beta[:2] == [True, False] and all(type(value) is bool for value in beta[:2])
    assert await Doc.filter_by(name="dark").values_list("data__ui__size", flat=True) == [12]


async def test_values_through_a_relationship(docs: Database) -> None:
    rows = await Note.order_by("text").values_list("text", "doc__data__theme")
    assert rows == [("on dark", "dark"), ("on odd", None)]


async def test_lookup_through_a_relationship(docs: Database) -> None:
    notes = await Note.filter_by(doc__data__ui__theme="dark").all()
    assert [note.text for note in notes] == ["on dark"]
    docs_with = await names(notes__doc__datab__count=3)
    assert docs_with == {"dark"}
    assert await names(Q(data__beta=True) | Q(data__beta=False)) == {"dark", "light"}
    assert await names(~Q(data__theme="dark")) == set(DOCS) - {"dark"}


@pytest.mark.parametrize("field", ["data", "datab"])
async def test_order_numbers_then_strings_then_the_rest(docs: Database, field: str) -> None:
    ascending = await Doc.order_by(f"{field}__count", "name").values_list("name", flat=True)
    assert ascending == ["light", "dark", "null", "empty", "list", "odd", "scalar", "sqlnull"]
    descending = await Doc.order_by(f"-{field}__count", "name").values_list("name", flat=True)
    assert descending == ["empty", "list", "odd", "scalar", "sqlnull", "null", "dark", "light"]
    by_label = await Doc.order_by(f"{field}__label", "name").values_list("name", flat=True)
    # By code point: "Blue Sky" < "blue  " < "Ünïcode", whatever the collation.
    assert by_label[:3] == ["dark", "light", "null"]


async def test_sql_expressions_compare_as_their_type(docs: Database) -> None:
    assert await names(data__count=literal(3, Integer())) == {"dark"}
    assert await names(data__theme=func.lower("DARK", type_=String())) == {"dark"}
    assert await names(data__count__gt=literal(1, Integer())) == {"dark"}
    with pytest.raises(InvalidValueError, match="string or a number expression"):
        await names(data__count=Doc.data)


BAD_KEYS = [
    ("data__tags__0", InvalidFieldError, "array position"),
    ("data__ui__-1", InvalidFieldError, "array position"),
    ("data____x", InvalidFieldError, "empty part"),
    ("name__x", InvalidFieldError, "Unknown lookup operator"),
    ("name__has_key", InvalidFieldError, "Unknown lookup operator"),
    ("data__a\x00b", InvalidFieldError, "NUL"),
]


@pytest.mark.parametrize(("key", "error", "message"), BAD_KEYS)
async def test_bad_keys_are_refused_before_sql(
    docs: Database, key: str, error: type[Exception], message: str
) -> None:
    with StatementLog(docs) as log, pytest.raises(error, match=message):
        await Doc.filter_by(**{key: 1}).all()
    assert log.statements == []


BAD_VALUES: list[tuple[str, Any, str]] = [
    ("data__theme", {"a": 1}, "Use __contains"),
    ("data__theme", [1], "Use __contains"),
    ("data__count__gt", True, "compares numbers"),
    ("data__count__gt", None, "takes a string, a number"),
    ("data__count__between", (1, "2"), "compares numbers"),
    ("data__count__between", 1, "pair"),
    ("data__count", 2**64, "64-bit"),
    ("data__rank", float("nan"), "takes a string"),
    ("data__theme", "a\x00", "takes a string"),
    ("data__has_key", 1, "takes a key"),
    ("data__contains", "dark", "dict or a list"),
    ("data__contains", {"tags": [[1]]}, "list inside a list"),
    ("data__contains", {"tags": [{"a": 1}]}, "objects inside a list"),
    ("data__contains", {1: "a"}, "keys must be strings"),
    ("data__theme__in", "dark", "list of values"),
    ("data__theme__in", [None], "takes a string"),
    ("data__theme__isnull", "yes", "True or False"),
    ("data__theme__icontains", 3, "takes a string"),
]


@pytest.mark.parametrize(("key", "value", "message"), BAD_VALUES)
async def test_bad_values_are_refused_before_sql(
    docs: Database, key: str, value: Any, message: str
) -> None:
    with StatementLog(docs) as log, pytest.raises(InvalidValueError, match=message):
        await Doc.filter_by(**{key: value}).all()
    assert log.statements == []


async def test_values_order_and_aggregates_check_their_paths(docs: Database) -> None:
    with StatementLog(docs) as log:
        with pytest.raises(InvalidFieldError, match="array position"):
            await Doc.filter_by().values("data__tags__0")
        with pytest.raises(InvalidFieldError, match="no field 'nope'"):
            await Doc.filter_by().values("nope__x")
        with pytest.raises(InvalidFieldError, match="no field"):
            await Doc.filter_by().values("name__x")
        with pytest.raises(InvalidFieldError, match="aggregates over keys inside a JSON"):
            await Doc.filter_by().sum("data__count")
        with pytest.raises(InvalidFieldError, match="empty"):
            await Doc.order_by("data__").all()
        with pytest.raises(InvalidValueError, match="cursor"):
            await Doc.order_by("data__count").cursor()
    assert log.statements == []


async def test_request_filters_allow_json_keys_only_by_name(docs: Database) -> None:
    filters = RequestFilters(
        Doc,
        fields={"data__theme": {"exact", "in"}, "data__ui": {"has_key"}, "data__in": {"exact"}},
        order_by={"data__count"},
    )
    assert await _names(filters.apply({"data__theme": "dark"})) == {"dark"}
    assert await _names(filters.apply({"data__theme__in": "dark,light"})) == {"dark", "light"}
    assert await _names(filters.apply({"data__ui__has_key": "flags"})) == {"light"}
    # a key named like an operator stays a key: nobody has "in"
    assert await _names(filters.apply({"data__in": "x"})) == set()
    ordered = await filters.apply({"order_by": "-data__count"}).values_list("name", flat=True)
    assert ordered[-2:] == ["dark", "light"]
    with StatementLog(docs) as log:
        for key in ["data", "data__ui__theme", "data__theme__icontains", "data__count"]:
            with pytest.raises(InvalidFieldError, match="the filters allowed here"):
                filters.apply({key: "dark"})
        with pytest.raises(InvalidFieldError, match="Cannot sort"):
            filters.apply({"order_by": "data__rank"})
    assert log.statements == []
    with pytest.raises(InvalidValueError, match="sub-document"):
        RequestFilters(Doc, fields={"data": {"contains"}})
    with pytest.raises(InvalidFieldError, match="array position"):
        RequestFilters(Doc, fields={"data__tags__0": {"exact"}})
    with pytest.raises(InvalidFieldError, match="Unknown lookup operator"):
        RequestFilters(Doc, fields={"name": {"has_key"}})


async def _names(query: Any) -> set[str]:
    return {doc.name for doc in await query}
