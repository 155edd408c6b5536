"""SQLite's settings on every new connection, decided in one place.

A SQLite file opened by ``Database(url)`` gets, on each pooled connection:

- ``busy_timeout=5000``: a writer that finds the write lock taken waits up to 5 s
  for it instead of failing at once (sqlrecord's writers queue with BEGIN
  IMMEDIATE, ``_begin.py``); sent first, so that switching the file to WAL waits too.
- ``foreign_keys=ON``: SQLite enforces foreign keys only when asked, per connection.
- ``journal_mode=WAL``: readers and the writer no longer block each other, and a
  commit appends to the log instead of rewriting the file twice.
- ``synchronous=NORMAL`` (only with WAL): a commit no longer waits for the disk;
  a power cut may lose the last commits, never the database. With another
  journal mode SQLite's own default (FULL) stays.

An in-memory database gets the busy timeout and the foreign keys only: it has no
file to log to, and nothing to sync. ``Database(sqlite_pragmas={...})`` changes
any of them (``None``: send nothing, keep SQLite's or the file's own setting) and
adds others; docs/sessions.md says why each default is what it is.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from sqlalchemy.engine import URL

from ._sqlite_connection import sqlite_file
from .exceptions import ConfigurationError

__all__ = ["FILE_PRAGMAS", "MEMORY_PRAGMAS", "PragmaValue", "sqlite_pragmas"]

#: A pragma's value as a caller gives it: ``True``/``False`` for ON/OFF, a number or a word.
PragmaValue = str | int | bool | None

#: sqlrecord's settings for a SQLite file, in the order they are sent.
FILE_PRAGMAS: Mapping[str, str | int] = {
    "busy_timeout": 5000,
    "foreign_keys": "ON",
    "journal_mode": "WAL",
    "synchronous": "NORMAL",
}

#: ... and for an in-memory database (WAL and syncing have no meaning there).
MEMORY_PRAGMAS: Mapping[str, str | int] = {"busy_timeout": 5000, "foreign_keys": "ON"}

# A pragma's name and value go into the statement as text (SQLite takes no bound
# parameter there): a name is a word, a value a word or a whole number.
_NAME = re.compile(r"[A-Za-z_]+")
_VALUE = re.compile(r"-?[0-9]+|[A-Za-z_][A-Za-z0-9_]*")


def sqlite_pragmas(
    url: URL,
    given: Mapping[str, PragmaValue] | None = None,
    *,
    driver_timeout: bool = False,
) -> tuple[tuple[str, str], ...]:
    """The ``(name, value)`` pragmas every new connection to ``url`` runs, in order.

    ``given`` (``Database(sqlite_pragmas=...)``) overrides sqlrecord's defaults and adds
    pragmas; ``None`` as a value drops one. ``driver_timeout``: the caller set
    sqlite3's ``timeout`` in ``connect_args``, which then stands for the busy timeout.

    Example:
        >>> from sqlalchemy.engine import make_url
        >>> dict(sqlite_pragmas(make_url("sqlite+aiosqlite:///app.db"), {"synchronous": "FULL"}))
        {'busy_timeout': '5000', 'foreign_keys': 'ON', 'journal_mode': 'WAL', 'synchronous': 'FULL'}
        >>> sqlite_pragmas(make_url("sqlite+aiosqlite:///app.db"), {"journal_mode": "DELETE"})
        (('busy_timeout', '5000'), ('foreign_keys', 'ON'), ('journal_mode', 'DELETE'))
        >>> sqlite_pragmas(make_url("sqlite+aiosqlite://"), {"foreign_keys": False})
        (('busy_timeout', '5000'), ('foreign_keys', 'OFF'))
    """
    given = dict(given or {})
    defaults = dict(FILE_PRAGMAS if sqlite_file(url) is not None else MEMORY_PRAGMAS)
    if driver_timeout:
        del defaults["busy_timeout"]
    journal = given.get("journal_mode", defaults.get("journal_mode"))
    if "synchronous" in defaults and str(journal).upper() != "WAL":
        # NORMAL is safe against a power cut with WAL only: elsewhere keep SQLite's FULL.
        del defaults["synchronous"]
    chosen = {**defaults, **{name.lower(): value for name, value in given.items()}}
    return tuple(
        (_checked_name(name), _text(name, value))
        for name, value in chosen.items()
        if value is not None
    )


def _checked_name(name: str) -> str:
    if not _NAME.fullmatch(name):
        raise ConfigurationError(
            f"{name!r} is not a SQLite pragma name: give the bare name, such as "
            "'journal_mode' or 'cache_size', in Database(sqlite_pragmas={...})."
        )
    return name


def _text(name: str, value: str | int | bool) -> str:
    if isinstance(value, bool):
        return "ON" if value else "OFF"
    text = str(value)
    if not _VALUE.fullmatch(text):
        raise ConfigurationError(
            f"{value!r} is not a value sqlrecord sends for the SQLite pragma {name!r}: "
            "give a whole number, True/False, or one word such as 'WAL' or 'NORMAL'."
        )
    return text
