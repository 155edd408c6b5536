"""Figures of the bad-input and security suites, per database.

Each suite counts what it tried (inputs generated, statements run, requests
sent, 5xx seen, rows changed by rejected calls) in a :class:`Figures`. The
``figures_fixture`` it builds writes them at the end of the session to
``var/reliability/<suite>.json`` and adds a table to pytest's closing summary,
so ``.ci/run`` prints them. No conftest is involved: the fixture registers a
small plugin object for the summary hook itself.

The JSON file::

    {"suite": "hostile_input",
     "written_at": "2026-11-28T08:00:00Z",
     "columns": ["inputs", "executed", ...],
     "databases": {"sqlite": {"inputs": 10000, ...}, "postgresql": {...}},
     "totals": {"inputs": 10600, ...}}
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

# scripts/test-versions sends each combination's figures elsewhere (as conftest.py).
FIGURES_DIR = Path(
    os.environ.get("SQLRECORD_TEST_FIGURES_DIR")
    or Path(__file__).resolve().parents[1] / "var" / "reliability"
)


class Figures:
    """Counts per database for one suite; ``columns`` fixes their order in the table."""

    def __init__(self, suite: str, columns: tuple[str, ...]) -> None:
        self.suite = suite
        self.columns = columns
        self.databases: dict[str, Counter[str]] = {}

    def add(self, database: str, **counts: int) -> None:
        unknown = set(counts) - set(self.columns)
        assert not unknown, f"{self.suite}: no column {sorted(unknown)}"
        self.databases.setdefault(database, Counter()).update(counts)

    def as_dict(self) -> dict[str, Any]:
        databases = {
            name: {column: counts[column] for column in self.columns}
            for name, counts in self.databases.items()
        }
        totals = {column: sum(row[column] for row in databases.values()) for column in self.columns}
        return {
            "suite": self.suite,
            "written_at": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "columns": list(self.columns),
            "databases": databases,
            "totals": totals,
        }

    def write(self) -> Path:
        FIGURES_DIR.mkdir(parents=True, exist_ok=True)
        path = FIGURES_DIR / f"{self.suite}.json"
        path.write_text(json.dumps(self.as_dict(), indent=2) + "\n")
        return path

    def table(self) -> list[str]:
        figures = self.as_dict()
        rows = [["database", *self.columns]]
        rows += [[name, *map(str, row.values())] for name, row in figures["databases"].items()]
        rows.append(["total", *map(str, figures["totals"].values())])
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        return [
            "  ".join(
                cell.rjust(width) if i else cell.ljust(width)
                for i, (cell, width) in enumerate(zip(row, widths, strict=True))
            )
            for row in rows
        ]


class _Summary:
    """A plugin object: prints the table in pytest's terminal summary."""

    def __init__(self, figures: Figures, path: Path | None = None) -> None:
        self.figures = figures
        self.path = path

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if not self.figures.databases:
            return
        terminalreporter.write_sep("-", f"figures: {self.figures.suite}")
        for line in self.figures.table():
            terminalreporter.write_line(line)
        if self.path is not None:
            terminalreporter.write_line(f"(written to {self.path})")


def figures_fixture(figures: Figures) -> Callable[..., Any]:
    """A module-level autouse fixture that reports ``figures`` when the session ends."""

    @pytest.fixture(scope="session", autouse=True)
    def report_figures(request: pytest.FixtureRequest) -> Iterator[Figures]:
        summary = _Summary(figures)
        request.config.pluginmanager.register(summary, f"figures-{figures.suite}")
        yield figures
        if figures.databases:
            summary.path = figures.write()

    return report_figures
