"""One table across databases from the JSON results: ``python -m benchmarks.summary [size]``.

``python -m benchmarks.summary compare OTHER_DIR [size]`` sets the results in
``OTHER_DIR`` (an earlier run's ``docs/benchmarks``) beside these: per operation at
concurrency 1, sqlrecord's time relative to the ORM then and now, per database, and the
A-K geometric mean against Tortoise then and now.

For each operation: sqlrecord's median rows/s, and its median time relative to idiomatic
SQLAlchemy ORM (and to Core for bulk inserts), per database, at concurrency 1 and 10; then
every target with its verdict; then sqlrecord's time relative to Tortoise's on A-K at
concurrency 1 (B as B-each, as the Tortoise target counts it; J and K also as queries).
Where the results hold the defaults rows (issue 21), the same two tables again for them:
sqlrecord (defaults) against SA ORM (defaults), and against Tortoise (defaults). Prints
markdown for docs/benchmarks.md.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

__all__ = ["against_tortoise", "at_defaults", "compare", "summarise"]

_OUT = Path(__file__).resolve().parent.parent / "docs" / "benchmarks"
_DATABASES = ("sqlite", "postgres", "mysql")


def _rate(data: dict[str, Any], op: str, concurrency: int, name: str) -> float | None:
    for m in data["measurements"]:
        if (m["operation"], m["concurrency"], m["contestant"]) == (op, concurrency, name):
            return m.get("median_rows_per_second")
    return None


def _cell(
    data: dict[str, Any],
    op: str,
    concurrency: int,
    mine_name: str = "sqlrecord",
    orm_name: str = "orm",
) -> str:
    mine, orm = _rate(data, op, concurrency, mine_name), _rate(data, op, concurrency, orm_name)
    if mine is None or orm is None:
        return ""
    return f"{mine:,.0f} ({orm / mine:.2f}x)"


def _results(size: str, directory: Path = _OUT) -> dict[str, dict[str, Any]]:
    return {
        db: json.loads(p.read_text())
        for db in _DATABASES
        if (p := directory / f"{db}-{size}.json").exists()
    }


def _orm_ratio(data: dict[str, Any], op: str) -> str:
    mine, orm = _rate(data, op, 1, "sqlrecord"), _rate(data, op, 1, "orm")
    return f"{orm / mine:.2f}x" if mine and orm else ""


def _tortoise_mean(data: dict[str, Any]) -> str:
    ratios = []
    for key in "ABCDEFGHIJK":
        op = "B-each" if key == "B" else key
        mine, theirs = _rate(data, op, 1, "sqlrecord"), _rate(data, op, 1, "tortoise")
        if mine and theirs:
            ratios.append(theirs / mine)
    if not ratios:
        return ""
    product = 1.0
    for ratio in ratios:
        product *= ratio
    return f"{product ** (1 / len(ratios)):.2f}"


def compare(other: Path, size: str = "quick") -> str:
    """Markdown: sqlrecord's time / ORM time at c=1 in ``other``'s results and in these."""
    then, now = _results(size, other), _results(size)
    found = [db for db in _DATABASES if db in then and db in now]
    if not found:
        return "no results to compare"
    header = "| op | " + " | ".join(f"{db} before | {db} after" for db in found) + " |"
    lines = [header, "|" + "---|" * (1 + 2 * len(found))]
    for key in now[found[0]]["operations"]:
        cells = [_orm_ratio(results[db], key) for db in found for results in (then, now)]
        if any(cells):
            lines.append(f"| {key} | " + " | ".join(cells) + " |")
    means = [_tortoise_mean(results[db]) for db in found for results in (then, now)]
    lines.append("| A-K vs Tortoise (geometric mean of Tortoise rate / sqlrecord rate) | ")
    lines[-1] += " | ".join(means) + " |"
    return "\n".join(lines)


def against_tortoise(
    found: dict[str, dict[str, Any]], mine_name: str = "sqlrecord", theirs_name: str = "tortoise"
) -> list[str]:
    """sqlrecord's median time over Tortoise's, A-K and J-query, K-query at c=1, one row per
    database."""
    keys = [*"ABCDEFGHIJK", "J-query", "K-query"]
    lines = ["| | " + " | ".join(keys) + " |", "|---|" + "---|" * len(keys)]
    for db, data in found.items():
        cells = []
        for key in keys:
            op = "B-each" if key == "B" else key
            mine, theirs = _rate(data, op, 1, mine_name), _rate(data, op, 1, theirs_name)
            cells.append(f"{theirs / mine:.2f}" if mine and theirs else "")
        lines.append(f"| {db} | " + " | ".join(cells) + " |")
    return lines


def at_defaults(found: dict[str, dict[str, Any]]) -> list[str]:
    """The defaults rows (issue 21): sqlrecord's rows/s and time relative to the ORM's, both
    at their defaults, then against Tortoise at its defaults; nothing if none ran."""
    if not any(_rate(data, "A", 1, "sqlrecord-defaults") for data in found.values()):
        return []
    any_data = next(iter(found.values()))
    header = "| op | " + " | ".join(f"{db} c=1 | {db} c=10" for db in found) + " |"
    lines = [
        "sqlrecord (defaults) rows/s (time / SA ORM (defaults) time):",
        "",
        header,
        "|" + "---|" * (1 + 2 * len(found)),
    ]
    for key in any_data["operations"]:
        cells = [
            _cell(data, key, c, "sqlrecord-defaults", "orm-defaults")
            for data in found.values()
            for c in (1, 10)
        ]
        if any(cells):
            lines.append(f"| {key} | " + " | ".join(cells) + " |")
    lines += ["", "sqlrecord (defaults) time / Tortoise (defaults) time, c=1 (B: B-each):", ""]
    return lines + against_tortoise(found, "sqlrecord-defaults", "tortoise-defaults")


def summarise(size: str = "quick") -> str:
    """The markdown summary of every ``<db>-<size>.json`` present."""
    found = _results(size)
    if not found:
        return "no results"
    any_data = next(iter(found.values()))
    header = "| op | what | " + " | ".join(f"{db} c=1 | {db} c=10" for db in found) + " |"
    lines = [header, "|" + "---|" * (2 + 2 * len(found))]
    for key, op in any_data["operations"].items():
        cells = [_cell(data, key, c) for data in found.values() for c in (1, 10)]
        if any(cells):
            lines.append(f"| {key} | {op['title']} | " + " | ".join(cells) + " |")
    lines += ["", "| database | target | limit | measured | verdict |", "|---|---|---|---|---|"]
    for db, data in found.items():
        for v in data["targets"]:
            verdict = "pass" if v["pass"] else "**miss**"
            lines.append(
                f"| {db} | {v['target']} | {v['limit']:.2f} | {v['ratio']:.2f} | {verdict} |"
            )
    lines += ["", "sqlrecord time / Tortoise time, c=1 (B: B-each):", ""]
    lines += against_tortoise(found)
    if defaults := at_defaults(found):
        lines += ["", *defaults]
    return "\n".join(lines)


if __name__ == "__main__":
    if sys.argv[1:2] == ["compare"]:
        print(compare(Path(sys.argv[2]), *sys.argv[3:4]))
    else:
        print(summarise(*sys.argv[1:2]))
