"""The targets of issues 5 and 21, judged from the measurements: each a ratio and a verdict.

Issue 5 holds the tuned rows to theirs (sqlrecord within 1.10x of the ORM per operation,
bulk inserts within 1.30x of Core, the A-K geometric mean at or above Tortoise, streaming in
flat memory). Issue 21 asks the same of the rows a new user gets (``contestants.DEFAULTS_ROWS``):
the A-K geometric mean against Tortoise, both at their defaults, at c=1 and c=10, once with J
and K on loaded objects and once written as queries; and no operation slower than 1.10x the
ORM, tuned against tuned and defaults against defaults.
"""

from __future__ import annotations

import math
import statistics
from typing import Any

from .operations import OPERATIONS
from .runner import Measurement

__all__ = [
    "CORE_LIMIT",
    "MEMORY_LIMIT",
    "ORM_LIMIT",
    "evaluate_targets",
    "index_of",
    "orm_ratios",
    "time_ratio",
]

ORM_LIMIT, CORE_LIMIT, MEMORY_LIMIT = 1.10, 1.30, 1.20
_BY_KEY = {operation.key: operation for operation in OPERATIONS}

Index = dict[tuple[str, int, str], Measurement]

#: sqlrecord's rows -> the ORM row written the same way, and how a target names the pair.
_ORM_PAIRS = {
    "sqlrecord": ("orm", ""),
    "sqlrecord-psycopg": ("orm-psycopg", " on psycopg"),
    "sqlrecord-asyncmy": ("orm-asyncmy", " on asyncmy"),
}
#: The pairs issue 21's "no operation slower than 1.10x the ORM" names.
_ORM_PAIRINGS = {"tuned": ("sqlrecord", "orm"), "defaults": ("sqlrecord-defaults", "orm-defaults")}

#: A-K as each Tortoise comparison counts it: operation key -> the operation measured.
#: Tortoise's B is orm-benchmarks' loop of create(); sqlrecord's B is its batch API. The
#: like-for-like pair is B-each, where both run that loop, so it stands in for B. Issue 21
#: counts J and K twice: on loaded objects (J, K) and written as queries (J-query, K-query).
_A_TO_K = [op.key for op in OPERATIONS if op.group == "A-K"]
_FORMS = {
    "objects": {"B": "B-each"},
    "queries": {"B": "B-each", "J": "J-query", "K": "K-query"},
}


def index_of(measurements: list[Measurement]) -> Index:
    """The measurements by (operation, concurrency, contestant)."""
    return {(m.operation, m.concurrency, m.contestant): m for m in measurements}


def time_ratio(a: Measurement | None, b: Measurement | None) -> float | None:
    """a's median time per row over b's (above 1: a is slower)."""
    if a is None or b is None or a.median_rate is None or b.median_rate is None:
        return None
    return b.median_rate / a.median_rate


def _geomean(values: list[float]) -> float:
    return math.exp(statistics.fmean(math.log(v) for v in values))


def _tortoise_mean(
    index: Index, mine: str, theirs: str, form: dict[str, str], concurrency: int
) -> float | None:
    """The geometric mean of ``theirs``'s A-K rates over ``mine``'s (above 1: mine is
    slower). An operation that runs only at c=1 (B-each, C: one payload) counts its c=1
    run at c=10 too, so that both means cover all eleven."""
    rates: dict[str, list[float]] = {mine: [], theirs: []}
    for key in _A_TO_K:
        operation = _BY_KEY[form.get(key, key)]
        at = concurrency if operation.concurrent else 1
        pair = [index.get((operation.key, at, name)) for name in rates]
        if any(p is None or p.median_rate is None for p in pair):
            return None  # a mean over fewer operations would not be the same target
        for name, p in zip(rates, pair, strict=True):
            rates[name].append(p.median_rate)  # type: ignore[union-attr,arg-type]
    return _geomean(rates[theirs]) / _geomean(rates[mine])


def orm_ratios(measurements: list[Measurement]) -> list[dict[str, Any]]:
    """Per operation and concurrency, sqlrecord's time over the ORM's: ``tuned`` (the tuned
    rows) and ``defaults`` (the defaults rows), None where a pair was not measured."""
    index, rows = index_of(measurements), []
    for key, concurrency in dict.fromkeys((m.operation, m.concurrency) for m in measurements):
        ratios = {
            pairing: time_ratio(index.get((key, concurrency, a)), index.get((key, concurrency, b)))
            for pairing, (a, b) in _ORM_PAIRINGS.items()
        }
        if any(ratio is not None for ratio in ratios.values()):
            rows.append({"operation": key, "concurrency": concurrency, **ratios})
    return rows


def _per_operation(measurements: list[Measurement], index: Index) -> list[dict[str, Any]]:
    """Issue 5: each sqlrecord row against its ORM row, and bulk inserts against Core."""
    verdicts = []
    for m in measurements:
        if m.contestant not in _ORM_PAIRS:
            continue
        orm, where = _ORM_PAIRS[m.contestant]
        ratio = time_ratio(m, index.get((m.operation, m.concurrency, orm)))
        if ratio is not None:
            target = f"{m.operation} c={m.concurrency}{where}: sqlrecord time / ORM time"
            verdicts.append(_verdict(target, ORM_LIMIT, ratio))
        operation = _BY_KEY[m.operation]
        if m.contestant == "sqlrecord" and operation.bulk and operation.method == "bulk_insert":
            ratio = time_ratio(m, index.get((m.operation, m.concurrency, "core")))
            if ratio is not None:
                target = f"{m.operation}: sqlrecord time / Core time (bulk insert)"
                verdicts.append(_verdict(target, CORE_LIMIT, ratio))
    return verdicts


def _against_tortoise(index: Index) -> list[dict[str, Any]]:
    """Issue 5's A-K mean (tuned rows, c=1), then issue 21's (defaults rows, both forms)."""
    verdicts = []
    ratio = _tortoise_mean(index, "sqlrecord", "tortoise", _FORMS["objects"], 1)
    if ratio is not None:
        target = "geometric mean of A-K (c=1; B as B-each): Tortoise rate / sqlrecord"
        verdicts.append(_verdict(target, 1.0, ratio))
    for form_name, form in _FORMS.items():
        for concurrency in (1, 10):
            ratio = _tortoise_mean(
                index, "sqlrecord-defaults", "tortoise-defaults", form, concurrency
            )
            if ratio is not None:
                target = (
                    f"defaults: geometric mean of A-K (c={concurrency}; B as B-each; J and K "
                    f"as {form_name}): Tortoise rate / sqlrecord rate"
                )
                verdicts.append(_verdict(target, 1.0, ratio))
    return verdicts


def _none_over_orm(measurements: list[Measurement]) -> list[dict[str, Any]]:
    """Issue 21: no operation slower than 1.10x the ORM, per pairing; the measured ratio is
    the slowest, and the target names every operation over the limit."""
    verdicts = []
    rows = orm_ratios(measurements)
    for pairing in _ORM_PAIRINGS:
        measured = [(r["operation"], r["concurrency"], r[pairing]) for r in rows if r[pairing]]
        if not measured:
            continue
        over = [f"{key} c={c} {ratio:.2f}" for key, c, ratio in measured if ratio > ORM_LIMIT]
        named = f"over: {', '.join(over)}" if over else "none over"
        target = f"{pairing}: no operation slower than 1.10x the ORM, the slowest ({named})"
        verdicts.append(_verdict(target, ORM_LIMIT, max(ratio for _, _, ratio in measured)))
    return verdicts


def _in_flat_memory(memory: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Issue 5: sqlrecord's peak RSS streaming every row over streaming 1k."""
    peaks = {(r["contestant"], r["mode"], r["requested"]): r["peak_kib"] for r in memory}
    small = peaks.get(("sqlrecord", "stream", 1000))
    large = [
        v for (c, mode, n), v in peaks.items() if c == "sqlrecord" and mode == "stream" and n > 1000
    ]
    if not (small and large):
        return []
    target = "sqlrecord peak RSS: stream(all rows) / stream(1k)"
    return [_verdict(target, MEMORY_LIMIT, large[0] / small)]


def _verdict(target: str, limit: float, ratio: float) -> dict[str, Any]:
    return {"target": target, "limit": limit, "ratio": ratio, "pass": ratio <= limit}


def evaluate_targets(
    measurements: list[Measurement], memory: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Every target of issues 5 and 21 that these measurements can judge, with its ratio and
    verdict."""
    index = index_of(measurements)
    return [
        *_per_operation(measurements, index),
        *_against_tortoise(index),
        *_none_over_orm(measurements),
        *_in_flat_memory(memory),
    ]
