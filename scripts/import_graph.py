"""The import graph of ``src/sqlrecord``: cycles, each module's level, and its size.

A module's level is one more than the highest level among the modules it imports
(imports under ``if TYPE_CHECKING:`` and inside functions count too); a module that
imports none of the package is on level 1. The ``_internals`` package counts as one
module. ``tests/test_architecture.py`` holds the package to its limits.

    python3 scripts/import_graph.py            # the table, highest level first
"""

from __future__ import annotations

import ast
import functools
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "sqlrecord"
FOLDED = "sqlrecord._internals"


def _module_names(package: Path) -> dict[str, Path]:
    names = {}
    for path in sorted(package.rglob("*.py")):
        parts = path.relative_to(package.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        names[name] = path
    return names


def _fold(name: str) -> str:
    return FOLDED if name.startswith(FOLDED) else name


def imports(package: Path = PACKAGE) -> dict[str, set[str]]:
    """Each module of the package, and the modules of the package it imports."""
    modules = _module_names(package)
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        here = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                parts = here.split(".")
                base = parts[: len(parts) - node.level + 1] if node.level else []
                source = ".".join([*base, node.module] if node.module else base)
                submodules = [f"{source}.{alias.name}" for alias in node.names]
                found = [each for each in submodules if each in modules]
                targets.update(found if len(found) == len(submodules) else [source, *found])
            elif isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
        edges = {_fold(each) for each in targets if each in modules}
        graph.setdefault(_fold(name), set()).update(edges - {_fold(name)})
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    groups: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        for target in graph[module]:
            if target not in index:
                visit(target)
                low[module] = min(low[module], low[target])
            elif target in stack:
                low[module] = min(low[module], index[target])
        if low[module] == index[module]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == module:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10 * len(graph)))
    for module in graph:
        if module not in index:
            visit(module)
    return groups


def levels(graph: dict[str, set[str]]) -> dict[str, int]:
    """Each module's level (call on a graph without cycles)."""

    @functools.cache
    def level(module: str) -> int:
        return 1 + max((level(target) for target in graph[module]), default=0)

    return {module: level(module) for module in graph}


def line_counts(package: Path = PACKAGE) -> dict[str, int]:
    """Lines per module file (the ``_internals`` package per file, not folded)."""
    modules = _module_names(package)
    return {name: len(path.read_text().splitlines()) for name, path in modules.items()}


def main() -> None:
    graph = imports()
    found = cycles(graph)
    if found:
        print("cycles:", found)
        return
    by_level = levels(graph)
    sizes = line_counts()
    print(f"{len(graph)} modules, {max(by_level.values())} levels, no cycles")
    for module in sorted(graph, key=lambda each: (-by_level[each], each)):
        lines = sum(size for name, size in sizes.items() if _fold(name) == module)
        print(f"{by_level[module]:3} {module:32} {lines:5}")


if __name__ == "__main__":
    main()
