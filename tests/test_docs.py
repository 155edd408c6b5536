"""The README's, the docs' and ``examples/``'s Python examples run as written.

Each page's fenced Python blocks run as one script, twice in the same folder (a reader
runs an example again). The first run also records which of the page's functions were
called (each must be, but for the routes in ``NOT_CALLED``), and then checks the page's
inline code (`` `User.get(pk)` ``, `` `order_by("-id")` ``) against the objects that script
defined and sqlrecord's real API (``tests/docs_check.py``). Each example file runs as its
docstring says, twice.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from sqlrecord import BaseModelMixin

from .docs_check import RECORD_CALLS, StandIn, StandInBase, check_page

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
EXAMPLES = sorted((ROOT / "examples").glob("*.py"))
BLOCK = re.compile(r"```python\n(.*?)```", re.DOTALL)
# Table rows about other libraries (the benchmarks compare them): their calls are not ours.
OTHER_LIBRARIES = ("| raw driver", "| SQLAlchemy", "| Tortoise ORM", "| sqlactive")
# Routes run on a request, and these examples send none to them yet (drop an entry when
# its page calls the route, through httpx.ASGITransport as fastapi.md's `try_it` does).
# Functions a page defines that run where the call recorder cannot see them: testing.md's
# app, fixtures and tests run under pytest.main, which imports the page as a module of its
# own (the page asserts that they pass).
NOT_CALLED = {
    "testing.md": {
        "open_account",
        "count_accounts",
        "tables",
        "sqlrecord_database",
        "client",
        "test_open_account",
        "test_each_test_starts_empty",
        "test_without_the_fixture",
    }
}
REPORT = "docs-check: "
CHECK = f"""

_sys.setprofile(None)
import json as _json

_sys.path.insert(0, {str(ROOT)!r})
from tests.docs_check import check_page as _check_page, never_called as _never_called

with open(_sys.argv[1], encoding="utf-8") as _page:
    _report = _check_page(_page.read(), dict(globals()), skip_lines={OTHER_LIBRARIES!r})
with open(__file__, encoding="utf-8") as _script:
    _report.never_called = _never_called(_script.read(), _called_lines)
print({REPORT!r} + _json.dumps(_report.__dict__))
"""


def _script(page: Path) -> str:
    return "\n".join(BLOCK.findall(page.read_text(encoding="utf-8")))


def _run(script: Path, *args: str, cwd: Path, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(
        [sys.executable, "-W", "error", str(script), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_page_examples_run_and_inline_code_is_real(page: Path, tmp_path: Path) -> None:
    examples = tmp_path / f"page_{page.stem}.py"  # not fastapi.py: it would shadow FastAPI
    examples.write_text(_script(page), encoding="utf-8")
    checked = tmp_path / f"page_{page.stem}_checked.py"
    checked.write_text(RECORD_CALLS + _script(page) + CHECK, encoding="utf-8")

    output = _run(checked, str(page), cwd=tmp_path)
    report = json.loads(output.rpartition(REPORT)[2])
    assert not report["problems"], "\n".join(report["problems"])
    assert set(report["never_called"]) == NOT_CALLED.get(page.name, set()), report
    if _script(page):
        _run(examples, cwd=tmp_path)  # again, in the same folder


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_example_files_run_as_their_docstring_says(example: Path, tmp_path: Path) -> None:
    said = re.search(r"Run it with ``([^`]+)``", example.read_text(encoding="utf-8"))
    assert said is not None, f"{example.name} does not say how to run it"
    assert said.group(1) == f"python {example.relative_to(ROOT)}"
    env = {**os.environ, "TMPDIR": str(tmp_path)}  # its files go to this test's folder
    for _ in range(2):  # a second run in the same place works too
        _run(example, cwd=ROOT, env=env)


# -- the checker catches what it is for -----------------------------------------------


class Writer(BaseModelMixin, StandInBase):
    __tablename__ = "docs_writers"
    name: Mapped[str] = mapped_column(String(40))
    pieces: Mapped[list[Piece]] = relationship(back_populates="writer")


class Piece(BaseModelMixin, StandInBase):
    __tablename__ = "docs_pieces"
    title: Mapped[str] = mapped_column(String(40))
    writer_id: Mapped[int] = mapped_column(ForeignKey("docs_writers.id"))
    writer: Mapped[Writer] = relationship(back_populates="pieces")


PAGE_MODELS: dict[str, Any] = {"Writer": Writer, "Piece": Piece}


@pytest.mark.parametrize(
    ("span", "problem"),
    [
        ('order_by("-created_at", "name", "writer__name")', "no field 'writer'"),
        ('.load("pieces", "writer")', "no relationship|no field|writer"),
        ("Memo.with_deleted().get(pk)", "Memo is not a model of this page"),
        ("Model.only_archived()", "has no 'only_archived'"),
        ('Writer.filter_by(nmae="Kim")', "nmae"),
        ("await obj.save(*, session=None, auto_commit=True)", "defaults to False"),
        ("await obj.save(session, *, auto_commit=False)", "keyword-only"),
        ("Model.using(session, commit=True)", "commit"),
        ("Model.query.where(...)", None),  # a SQLAlchemy Select: not ours to check further
    ],
)
def test_inline_code_checker_finds_what_does_not_run(span: str, problem: str | None) -> None:
    report = check_page(f"Text with `{span}` in it.", PAGE_MODELS)
    if problem is None:
        assert not report.problems
        return
    assert len(report.problems) == 1, report
    assert re.search(problem, report.problems[0]), report.problems[0]


def test_inline_code_checker_accepts_what_runs() -> None:
    spans = [
        'Piece.order_by("-created_at", "title", "writer__name")',
        'Writer.load("pieces", "pieces.writer")',
        'order_by("-id")',
        '.only("title")',
        "await obj.save(*, session=None, auto_commit=False)",
        "Model.using(session=None, *, auto_commit=False, allow_protected=False)",
        "await Model.get(pk1, pk2, ...)",
        "writer.fill(**form)",
        "db.transaction(savepoints=False)",
        "session.flush()",
        "sum/min/max/avg(field)",
    ]
    report = check_page("\n".join(f"`{span}`" for span in spans), PAGE_MODELS)
    assert not report.problems, report.problems
    assert len(report.checked) == len(spans) - 2, report
    generic = check_page("`Model.with_deleted().get(pk)` and `Thing.restore()`", {})
    assert not generic.problems and len(generic.checked) == 2  # on the stand-in model
    assert hasattr(StandIn, "restore") and hasattr(StandIn, "version")
