"""The operations, the sizes, and what one timed run of an operation does.

An operation names the contestant method it calls, the table it works on, the untimed setup
that puts that table in a known state, and the work items of one run. ``per_item`` work is a
list of items shared out over the concurrent tasks (each item one call); other work is one
call with the whole payload.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .schema import NARROW, PARENT, UPSERT, WIDE, narrow_row, upsert_row, wide_row

__all__ = ["OPERATIONS", "SIZES", "Operation", "Plan", "Sizes"]


@dataclass(frozen=True)
class Sizes:
    """How much work each kind of operation does in one run."""

    name: str
    single: int  # single-row operations per run (A, F, I, J, K, E, count)
    bulk_small: int
    bulk_large: int
    fetch_mid: int
    fetch_large: int
    stream: int
    repeats: int
    warmup: int
    memory_rows: int


SIZES: dict[str, Sizes] = {
    "smoke": Sizes("smoke", 10, 20, 100, 20, 200, 200, 1, 0, 1000),
    "quick": Sizes("quick", 500, 1000, 10_000, 1000, 10_000, 10_000, 5, 1, 100_000),
    "full": Sizes("full", 10_000, 1000, 100_000, 1000, 100_000, 100_000, 5, 1, 100_000),
}


@dataclass(frozen=True)
class Seed:
    """The table state a run needs: ``table`` holding ``rows`` rows made by ``make``."""

    table: Any
    rows: int
    make: Callable[[int], dict[str, Any]]
    parents: bool = False

    @property
    def key(self) -> tuple[str, int]:
        """Two seeds with equal keys leave the same state."""
        return (self.table.name, self.rows)


@dataclass(frozen=True)
class Plan:
    """One run: the items (or whole payload), the rows they stand for, the setup they need."""

    items: list[Any]
    rows: int
    seed: Seed
    expect: int | None = None  # what the calls' results must add up to (a sanity check)
    ids_as_handles: bool = False  # items start with ids the contestant turns into handles


@dataclass(frozen=True)
class Operation:
    """A benchmark operation."""

    key: str
    title: str
    method: str
    model: str
    plan: Callable[[Sizes], Plan]
    per_item: bool = True
    concurrent: bool = True
    # The table must be seeded again before every run (writes, and updates: sqlrecord skips
    # an UPDATE whose values did not change, so every run must start from the seeded values).
    mutates: bool = False
    group: str = "extra"  # "A-K" (orm-benchmarks), "wide", or "extra"
    unit: str = "rows"
    bulk: bool = False  # also compared with SQLAlchemy Core


def _rows(make: Callable[[int], dict[str, Any]], count: int, start: int = 0) -> list[Any]:
    return [make(n) for n in range(start, start + count)]


def _empty(table: Any, make: Callable[[int], dict[str, Any]]) -> Seed:
    return Seed(table, 0, make)


def _single_inserts(make: Callable[[int], dict[str, Any]], table: Any) -> Callable[[Sizes], Plan]:
    return lambda s: Plan(_rows(make, s.single), s.single, _empty(table, make))


def _bulk(make: Callable[[int], dict[str, Any]], table: Any, size: str) -> Callable[[Sizes], Plan]:
    def plan(s: Sizes) -> Plan:
        count = getattr(s, size)
        return Plan([_rows(make, count)], count, _empty(table, make))

    return plan


def _reads(size: str, per_run: Callable[[Sizes], int], table: Any = NARROW) -> Callable:
    make = narrow_row if table is NARROW else wide_row

    def plan(s: Sizes) -> Plan:
        rows, times = getattr(s, size), per_run(s)
        return Plan([rows] * times, rows * times, Seed(table, s.fetch_large, make), rows * times)

    return plan


def _filter_page(s: Sizes) -> Plan:
    # Offsets stay inside the rows of one level (a tenth of the table).
    span = max(1, s.fetch_large // 10 - 20)
    items = [(n % 10, (n * 20) % span) for n in range(s.single)]
    return Plan(items, 20 * s.single, Seed(NARROW, s.fetch_large, narrow_row), 20 * s.single)


def _gets(table: Any, make: Callable[[int], dict[str, Any]]) -> Callable[[Sizes], Plan]:
    def plan(s: Sizes) -> Plan:
        ids = [1 + (n * 7919) % s.single for n in range(s.single)]
        return Plan(ids, s.single, Seed(table, s.single, make), s.single)

    return plan


def _get_hit(s: Sizes) -> Plan:
    # Ten times the single-row count: a hit takes microseconds, a run must last long enough
    # to time.
    hits = 10 * s.single
    return Plan([[1] * hits], hits, Seed(NARROW, s.single, narrow_row), hits)


def _updates(
    table: Any, make: Callable[[int], dict[str, Any]], whole: bool
) -> Callable[[Sizes], Plan]:
    def plan(s: Sizes) -> Plan:
        ids = list(range(1, s.single + 1))
        values = [make(n + 1_000_000) if whole else (n + 1) % 10 for n in range(s.single)]
        return Plan(
            list(zip(ids, values, strict=True)),
            s.single,
            Seed(table, s.single, make),
            ids_as_handles=True,
        )

    return plan


def _key_updates(s: Sizes) -> Plan:
    """J-query: the ids themselves (a query by key loads no object first)."""
    items = [(n + 1, (n + 1) % 10) for n in range(s.single)]
    return Plan(items, s.single, Seed(NARROW, s.single, narrow_row))


def _key_deletes(s: Sizes) -> Plan:
    """K-query: the ids themselves."""
    ids = list(range(1, s.single + 1))
    return Plan(ids, s.single, Seed(NARROW, s.single, narrow_row))


def _deletes(s: Sizes) -> Plan:
    ids = list(range(1, s.single + 1))
    return Plan(ids, s.single, Seed(NARROW, s.single, narrow_row), ids_as_handles=True)


def _eager(s: Sizes) -> Plan:
    times = max(1, s.single // 50)
    return Plan([50] * times, 550 * times, Seed(PARENT, 50, narrow_row, parents=True), 550 * times)


def _upsert(s: Sizes) -> Plan:
    # Half the rows collide with seeded keys (updated), half are new (inserted).
    count = s.bulk_small
    rows = _rows(upsert_row, count, start=count // 2)
    return Plan([rows], count, Seed(UPSERT, count, upsert_row))


def _count_exists(s: Sizes) -> Plan:
    return Plan(
        [n % 10 for n in range(s.single)], s.single, Seed(NARROW, s.fetch_large, narrow_row)
    )


def _page_offset(s: Sizes) -> Plan:
    pages = max(1, s.single // 10)
    items = [1 + n % (s.fetch_large // 20) for n in range(pages)]
    return Plan(items, 20 * pages, Seed(NARROW, s.fetch_large, narrow_row), 20 * pages)


def _page_cursor(s: Sizes) -> Plan:
    pages = min(max(1, s.single // 10), s.fetch_large // 20 - 1)
    return Plan([pages], 20 * pages, Seed(NARROW, s.fetch_large, narrow_row), 20 * pages)


def _stream(s: Sizes) -> Plan:
    return Plan([s.stream], s.stream, Seed(NARROW, s.stream, narrow_row), s.stream)


def _fetch_times(s: Sizes) -> int:
    return max(1, s.single // 50)


OPERATIONS: list[Operation] = [
    Operation(
        "A",
        "insert single, commit each",
        "insert_one",
        "narrow",
        _single_inserts(narrow_row, NARROW),
        mutates=True,
        group="A-K",
    ),
    Operation(
        "B",
        "insert batch, one transaction",
        "insert_batch",
        "narrow",
        _bulk(narrow_row, NARROW, "single"),
        per_item=False,
        concurrent=False,
        mutates=True,
        group="A-K",
    ),
    Operation(
        "B-each",
        "insert one at a time, one transaction, each id at once",
        "insert_each",
        "narrow",
        _bulk(narrow_row, NARROW, "single"),
        per_item=False,
        concurrent=False,
        mutates=True,
    ),
    Operation(
        "C",
        "bulk insert (bulk_small)",
        "bulk_insert",
        "narrow",
        _bulk(narrow_row, NARROW, "bulk_small"),
        per_item=False,
        concurrent=False,
        mutates=True,
        group="A-K",
        bulk=True,
    ),
    Operation(
        "C-large",
        "bulk insert (bulk_large)",
        "bulk_insert",
        "narrow",
        _bulk(narrow_row, NARROW, "bulk_large"),
        per_item=False,
        concurrent=False,
        mutates=True,
        bulk=True,
    ),
    Operation(
        "D",
        "filter, many rows (fetch_mid)",
        "filter_many",
        "narrow",
        _reads("fetch_mid", _fetch_times),
        group="A-K",
    ),
    Operation(
        "D-large",
        "filter, many rows (fetch_large)",
        "filter_many",
        "narrow",
        _reads("fetch_large", lambda s: 1),
        concurrent=False,
    ),
    Operation(
        "E", "filter small, limit 20 + offset", "filter_page", "narrow", _filter_page, group="A-K"
    ),
    Operation("F", "get by primary key", "get", "narrow", _gets(NARROW, narrow_row), group="A-K"),
    Operation(
        "G",
        "values as dicts (fetch_mid)",
        "values_dicts",
        "narrow",
        _reads("fetch_mid", _fetch_times),
        group="A-K",
    ),
    Operation(
        "H",
        "values as tuples (fetch_mid)",
        "values_tuples",
        "narrow",
        _reads("fetch_mid", _fetch_times),
        group="A-K",
    ),
    Operation(
        "I",
        "update whole row, commit each",
        "update_whole",
        "narrow",
        _updates(NARROW, narrow_row, whole=True),
        mutates=True,
        group="A-K",
    ),
    Operation(
        "J",
        "update one field, commit each",
        "update_field",
        "narrow",
        _updates(NARROW, narrow_row, whole=False),
        mutates=True,
        group="A-K",
    ),
    Operation("K", "delete, commit each", "delete", "narrow", _deletes, mutates=True, group="A-K"),
    Operation(
        "J-query",
        "update one field by key, as a query, commit each",
        "update_by_key",
        "narrow",
        _key_updates,
        mutates=True,
    ),
    Operation(
        "K-query",
        "delete by key, as a query, commit each",
        "delete_by_key",
        "narrow",
        _key_deletes,
        mutates=True,
    ),
    Operation(
        "get-hit",
        "get, identity-map hit (one session)",
        "get_hit",
        "narrow",
        _get_hit,
        per_item=False,
        concurrent=False,
    ),
    Operation(
        "eager", "eager load 50 parents x 10 children", "eager", "parent", _eager, unit="objects"
    ),
    Operation(
        "upsert",
        "upsert (half new, half existing)",
        "upsert",
        "upsert",
        _upsert,
        per_item=False,
        concurrent=False,
        mutates=True,
        bulk=True,
    ),
    Operation("count", "count + exists", "count_exists", "narrow", _count_exists, unit="pairs"),
    Operation(
        "page-offset", "offset page of 20 (count + page)", "page_offset", "narrow", _page_offset
    ),
    Operation(
        "page-cursor",
        "keyset page of 20, walked",
        "page_cursor",
        "narrow",
        _page_cursor,
        per_item=False,
        concurrent=False,
    ),
    Operation(
        "stream",
        "stream rows (stream size)",
        "stream",
        "narrow",
        _stream,
        per_item=False,
        concurrent=False,
    ),
    Operation(
        "A-wide",
        "insert single, wide",
        "insert_one",
        "wide",
        _single_inserts(wide_row, WIDE),
        mutates=True,
        group="wide",
    ),
    Operation(
        "C-wide",
        "bulk insert, wide (bulk_small)",
        "bulk_insert",
        "wide",
        _bulk(wide_row, WIDE, "bulk_small"),
        per_item=False,
        concurrent=False,
        mutates=True,
        group="wide",
        bulk=True,
    ),
    Operation(
        "D-wide",
        "filter many, wide (fetch_mid)",
        "filter_many",
        "wide",
        _reads("fetch_mid", _fetch_times, WIDE),
        group="wide",
    ),
    Operation(
        "F-wide", "get by primary key, wide", "get", "wide", _gets(WIDE, wide_row), group="wide"
    ),
    Operation(
        "I-wide",
        "update whole row, wide",
        "update_whole",
        "wide",
        _updates(WIDE, wide_row, whole=True),
        mutates=True,
        group="wide",
    ),
]
