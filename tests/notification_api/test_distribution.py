"""The Notification API is a distribution of its own that declares what it imports.

``scripts/check-packaging`` (run by ``.ci/run``) builds both wheels and installs each in
a fresh virtual environment; these are its quick checks, on the project files alone.
"""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
import tomllib
from pathlib import Path
from typing import Any

import notification_api

ROOT = Path(__file__).resolve().parents[2]
SOURCE = Path(notification_api.__file__).parent


def _pyproject(path: Path) -> dict[str, Any]:
    return tomllib.loads(path.read_text(encoding="utf-8"))


def _name(requirement: str) -> str:
    """The canonical name of a requirement's distribution ("SQLAlchemy[asyncio]>=2": sqlalchemy)."""
    name = re.split(r"[\s\[<>=!~;]", requirement, maxsplit=1)[0]
    return re.sub(r"[-_.]+", "-", name).lower()


def _imported_top_levels() -> set[str]:
    names: set[str] = set()
    for path in SOURCE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names |= {alias.name.partition(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.partition(".")[0])
    return names - set(sys.stdlib_module_names) - {"__future__", "notification_api"}


def test_the_sqlrecord_wheel_holds_the_library_only() -> None:
    library = _pyproject(ROOT / "pyproject.toml")
    assert library["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"] == ["src/sqlrecord"]
    assert "service" not in library["project"]["optional-dependencies"]


def test_the_service_requires_the_sqlrecord_of_this_repository() -> None:
    library = _pyproject(ROOT / "pyproject.toml")["project"]
    service = _pyproject(ROOT / "service" / "pyproject.toml")["project"]
    pins = [item for item in service["dependencies"] if _name(item) == "sqlrecord"]
    assert pins == [f"sqlrecord[fastapi,postgres,mysql]=={library['version']}"]
    assert service["version"] == library["version"]  # released together


def test_the_service_declares_every_distribution_it_imports() -> None:
    library = _pyproject(ROOT / "pyproject.toml")["project"]
    service = _pyproject(ROOT / "service" / "pyproject.toml")["project"]
    # What sqlrecord[fastapi,postgres,mysql] brings counts as declared (SQLAlchemy itself).
    declared = {_name(item) for item in [*service["dependencies"], *library["dependencies"]]}
    for extra in ("fastapi", "postgres", "mysql"):
        declared |= {_name(item) for item in library["optional-dependencies"][extra]}
    providers = importlib.metadata.packages_distributions()
    imported = {
        _name(distribution)
        for module in _imported_top_levels()
        for distribution in providers.get(module, [module])
    }
    assert imported - declared == set(), "imported by notification_api, not declared"
    assert {"fastapi", "sqlalchemy", "sqlrecord", "alembic"} <= imported  # the scan sees imports
