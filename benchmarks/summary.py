"""One table across databases from the JSON results: ``python -m benchmarks.summary [size]``.

For each operation: sqlrecord's median rows/s, and its median time relative to idiomatic
SQLAlchemy ORM (and to Core for bulk inserts), per database, at concurrency 1 and 10; then
every target with its verdict; then sqlrecord's time relative to Tortoise's on A-K at
concurrency 1 (B as B-each, as the Tortoise target counts it). Prints markdown for
docs/benchmarks.md.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

__all__ = ["against_tortoise", "summarise"]

_OUT = Path(__file__).resolve().parent.parent / "docs" / "benchmarks"
_DATABASES = ("sqlite", "postgres", "mysql")


def _rate(data: dict[str, Any], op: str, concurrency: int, name: str) -> float | None:
    for m in data["measurements"]:
        if (m["operation"], m["concurrency"], m["contestant"]) == (op, concurrency, name):
            return m.get("median_rows_per_second")
    return None


def _cell(data: dict[str, Any], op: str, concurrency: int) -> str:
    mine, orm = _rate(data, op, concurrency, "sqlrecord"), _rate(data, op, concurrency, "orm")
    if mine is None or orm is None:
        return ""
    return f"{mine:,.0f} ({orm / mine:.2f}x)"


def _results(size: str) -> dict[str, dict[str, Any]]:
    return {
        db: json.loads(p.read_text())
        for db in _DATABASES
        if (p := _OUT / f"{db}-{size}.json").exists()
    }


def against_tortoise(found: dict[str, dict[str, Any]]) -> list[str]:
    """sqlrecord's median time over Tortoise's, A-K at c=1, one row per database."""
    keys = "ABCDEFGHIJK"
    lines = ["| | " + " | ".join(keys) + " |", "|---|" + "---|" * len(keys)]
    for db, data in found.items():
        cells = []
        for key in keys:
            op = "B-each" if key == "B" else key
            mine, theirs = _rate(data, op, 1, "sqlrecord"), _rate(data, op, 1, "tortoise")
            cells.append(f"{theirs / mine:.2f}" if mine and theirs else "")
        lines.append(f"| {db} | " + " | ".join(cells) + " |")
    return lines


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
    return "\n".join(lines)


if __name__ == "__main__":
    print(summarise(*sys.argv[1:2]))
