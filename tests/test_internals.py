"""Private names of SQLAlchemy and aiosqlite stay in ``sqlrecord._internals``, which
refuses unsupported releases at import with a message naming the supported ones."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from sqlrecord._internals import (
    SUPPORTED_AIOSQLITE,
    SUPPORTED_SQLALCHEMY,
    check_aiosqlite_version,
    check_sqlalchemy_version,
)

SOURCE = Path(__file__).resolve().parents[1] / "src" / "sqlrecord"
INTERNALS = SOURCE / "_internals"

# What a use of a private name looks like in source, by what it reaches into.
PRIVATE_USES = {
    "SessionTransaction._connections": r"\b_connections\b",
    "SessionTransaction.connections (2.1.7+)": r"\.connections\b",
    "an attribute's loader, AttributeImpl.callable_": r"\bcallable_\b|\.impl\b",
    "listener collections, .dispatch": r"\.dispatch\b",
    "QueuePool._do_get and its counts": r"\b_do_get\b|\b_max_overflow\b|\b_overflow\b|\._timeout\b",
    "the pool's queue, sqlalchemy.util.queue": r"\bsa_queue\b|\butil import queue\b",
    "URL.get_dialect(_is_async=...)": r"\b_is_async\b",
    "DefaultDialect.get_pool_class": r"\bget_pool_class\b",
    "the aiosqlite adapter class": r"\bAsyncAdapt_\w+",
    "the adapter's _execute_mutex": r"\b_execute_mutex\b",
    "the adapter's _handle_exception": r"\b_handle_exception\b",
    "a cursor's _async_soft_close": r"\b_async_soft_close\b",
    "aiosqlite's sqlite3 connection": r"driver_connection\._|\._connection\b|\._conn\b",
    "aiosqlite's work queue and thread": r"\._tx\b|\b_stop_running\b|\._execute\(",
    "a swapped class": r"__class__\s*=",
    "a custom construct's _traverse_internals": r"\b_traverse_internals\b",
    "sqlalchemy.orm.base": r"sqlalchemy\.orm\.base\b",
    "sqlalchemy.util": r"sqlalchemy\.util\b|from sqlalchemy import util\b",
    "sqlalchemy.orm.strategy_options": r"\bstrategy_options\b|\b_AbstractLoad\b",
    "in_greenlet / await_only / greenlet_spawn": r"\b(in_greenlet|await_only|greenlet_spawn)\b",
}

# Once private, now replaced by public API (``sqlalchemy.orm.Load``): used nowhere.
REPLACED = {"sqlalchemy.orm.strategy_options"}


def _modules_outside_internals() -> list[Path]:
    return sorted(path for path in SOURCE.rglob("*.py") if INTERNALS not in path.parents)


def test_the_scan_sees_the_library() -> None:
    names = {path.name for path in _modules_outside_internals()}
    assert {"_dialects.py", "_pool.py", "_lazy_guard.py", "_sqlite_connection.py"} <= names


@pytest.mark.parametrize("what", sorted(PRIVATE_USES))
def test_no_private_name_outside_internals(what: str) -> None:
    pattern = re.compile(PRIVATE_USES[what])
    found = [
        f"{path.relative_to(SOURCE)}:{number}: {line.strip()}"
        for path in _modules_outside_internals()
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if pattern.search(line)
    ]
    assert not found, f"{what} used outside sqlrecord._internals:\n" + "\n".join(found)


@pytest.mark.parametrize("what", sorted(set(PRIVATE_USES) - REPLACED))
def test_each_pattern_would_catch_its_use_in_internals(what: str) -> None:
    # A pattern that matches nothing anywhere guards nothing: each private name is
    # used in _internals (where it belongs), so each pattern must find it there.
    pattern = re.compile(PRIVATE_USES[what])
    texts = [path.read_text(encoding="utf-8") for path in INTERNALS.rglob("*.py")]
    assert any(pattern.search(text) for text in texts)


@pytest.mark.parametrize("version", ["2.0.46", "2.0.58", "2.1.0", "2.1.9", "2.1.10b1"])
def test_supported_sqlalchemy_is_accepted(version: str) -> None:
    check_sqlalchemy_version(version)


@pytest.mark.parametrize("version", ["1.4.54", "2.0.45", "2.2.0", "3.0.0"])
def test_unsupported_sqlalchemy_is_refused_naming_the_range(version: str) -> None:
    with pytest.raises(ImportError) as raised:
        check_sqlalchemy_version(version)
    message = str(raised.value)
    assert "sqlrecord needs SQLAlchemy >=2.0.46,<2.2" in message
    assert f"{version} is installed" in message
    assert "pip install 'SQLAlchemy[asyncio]>=2.0.46,<2.2'" in message


@pytest.mark.parametrize("version", ["0.20.0", "0.21.0", "0.22.1", "1.0.0"])
def test_supported_aiosqlite_is_accepted(version: str) -> None:
    check_aiosqlite_version(version)


@pytest.mark.parametrize("version", ["0.17.0", "0.19.0"])
def test_old_aiosqlite_is_refused_naming_the_range(version: str) -> None:
    with pytest.raises(ImportError) as raised:
        check_aiosqlite_version(version)
    message = str(raised.value)
    assert "sqlrecord needs aiosqlite >=0.20" in message
    assert f"{version} is installed" in message
    assert "pip install 'aiosqlite>=0.20'" in message


def test_missing_aiosqlite_is_refused_naming_the_range() -> None:
    with pytest.raises(ImportError, match=r"aiosqlite >=0\.20 .*; it is not installed\."):
        check_aiosqlite_version(None)


def test_installed_releases_pass_their_checks() -> None:
    check_sqlalchemy_version()
    check_aiosqlite_version()


def test_supported_ranges_are_the_declared_dependencies() -> None:
    # The messages name the ranges pyproject.toml declares; keep the two together.
    project = tomllib.loads((SOURCE.parents[1] / "pyproject.toml").read_text(encoding="utf-8"))
    requirements = project["project"]["dependencies"]
    lowest, above = SUPPORTED_SQLALCHEMY
    assert "SQLAlchemy[asyncio]>=2.0.46,<2.2" in requirements
    assert (lowest, above) == ((2, 0, 46), (2, 2))
    assert "aiosqlite>=0.20" in requirements
    assert SUPPORTED_AIOSQLITE == ((0, 20), None)
