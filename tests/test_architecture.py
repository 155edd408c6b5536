"""The package's shape: no import cycles, a shallow import graph, small modules, a small surface.

``docs/architecture.md`` draws the layers; ``scripts/import_graph.py`` prints the graph.
"""

from __future__ import annotations

import importlib.util
import pkgutil
import sys
from pathlib import Path
from types import ModuleType

import sqlrecord

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "import_graph.py"
MAX_LEVELS = 12
MAX_LINES = 400
# testing: users' tests import it (rolled_back) and load it as a pytest plugin by name,
# so its name is part of the API (issue 18, point 6).
PUBLIC_MODULES = {"alembic", "exceptions", "fastapi", "testing", "types"}


def _graph_tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location("import_graph", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("import_graph", module)
    spec.loader.exec_module(module)
    return module


def test_the_import_graph_has_no_cycles() -> None:
    tool = _graph_tool()
    assert tool.cycles(tool.imports()) == []


def test_the_import_graph_is_shallow() -> None:
    tool = _graph_tool()
    levels = tool.levels(tool.imports())
    assert max(levels.values()) <= MAX_LEVELS, sorted(levels.items(), key=lambda item: -item[1])


def test_no_module_is_long() -> None:
    long = {name: lines for name, lines in _graph_tool().line_counts().items() if lines > MAX_LINES}
    assert long == {}


def test_implementation_modules_are_private() -> None:
    names = {info.name for info in pkgutil.iter_modules(sqlrecord.__path__)}
    public = {name for name in names if not name.startswith("_")}
    assert public == PUBLIC_MODULES


def test_the_planner_decides_alone() -> None:
    # The proofs the planner asks for are read by the planner only; the scope carries
    # plans out; nothing else decides a route.
    tool = _graph_tool()
    graph = tool.imports()
    planner = {"sqlrecord._plan", "sqlrecord._plan_rows"}
    proofs = (
        "sqlrecord._one_statement",
        "sqlrecord._unwatched",
        "sqlrecord._unwatched_by_key",
        "sqlrecord._unwatched_load",
    )
    for proof in proofs:
        users = {module for module, targets in graph.items() if proof in targets} - set(proofs)
        assert users <= planner | {"sqlrecord._scope"}, (proof, users)
    for part in planner:
        users = {module for module, targets in graph.items() if part in targets} - planner
        assert users == {"sqlrecord._scope"}, (part, users)
