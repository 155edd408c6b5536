"""The contestants, imported by name so a child process loads only the one it measures."""

from __future__ import annotations

import importlib

from ..targets import Target
from .base import Contestant

__all__ = [
    "CONTESTANTS",
    "DEFAULTS_ROWS",
    "DRIVER_ROWS",
    "GROUPS",
    "available",
    "chosen",
    "load",
    "passes",
]

#: name -> "module:Class", in the order the report shows them.
CONTESTANTS: dict[str, str] = {
    "raw": "raw:RawContestant",
    "core": "core:CoreContestant",
    "orm": "orm:OrmContestant",
    "sqlrecord": "sqlrecord_:SqlrecordContestant",
    "orm-psycopg": "orm:OrmContestant",
    "sqlrecord-psycopg": "sqlrecord_:SqlrecordContestant",
    "orm-asyncmy": "orm:OrmContestant",
    "sqlrecord-asyncmy": "sqlrecord_:SqlrecordContestant",
    "tortoise": "tortoise_:TortoiseContestant",
    "sqlactive": "sqlactive_:SqlactiveContestant",
    "orm-defaults": "orm:OrmContestant",
    "sqlrecord-defaults": "sqlrecord_:SqlrecordContestant",
    "tortoise-defaults": "tortoise_:TortoiseContestant",
}

#: The driver rows: a contestant on another driver of the same database (the others run on
#: the target's first driver, asyncpg or aiomysql). name -> driver.
DRIVER_ROWS: dict[str, str] = {
    "orm-psycopg": "psycopg",
    "sqlrecord-psycopg": "psycopg",
    "orm-asyncmy": "asyncmy",
    "sqlrecord-asyncmy": "asyncmy",
}


#: The defaults rows (issue 21, "user's-eye"): a library as a new user runs it, at its
#: documented defaults (no pool size or session option from the harness; see
#: docs/benchmarks.md), each running the code of the row its name starts with. They run in
#: a pass of their own (``passes``).
DEFAULTS_ROWS = ("orm-defaults", "sqlrecord-defaults", "tortoise-defaults")

#: Names ``--contestants`` takes for a set of rows.
GROUPS: dict[str, tuple[str, ...]] = {
    "defaults": DEFAULTS_ROWS,
    "tuned": tuple(name for name in CONTESTANTS if name not in DEFAULTS_ROWS),
}


def available(name: str, target: Target) -> bool:
    """Whether ``name`` runs on ``target``: a driver row only where its driver reaches it."""
    return name not in DRIVER_ROWS or DRIVER_ROWS[name] in target.other_drivers


def chosen(names: list[str] | None, target: Target) -> list[str]:
    """The contestants ``names`` asks for (a group stands for its rows; none: every one that
    runs on ``target``), in the report's order."""
    if not names:
        return [name for name in CONTESTANTS if available(name, target)]
    wanted = {row for name in names for row in GROUPS.get(name, (name,))}
    if unknown := wanted - set(CONTESTANTS):
        raise SystemExit(f"Unknown contestant {', '.join(sorted(unknown))}")
    # A group keeps the rows that run here; a row named alone must run.
    if unavailable := [
        name for name in names if name in CONTESTANTS and not available(name, target)
    ]:
        raise SystemExit(f"{', '.join(unavailable)}: no such driver for {target.name}")
    return [name for name in CONTESTANTS if name in wanted and available(name, target)]


def passes(names: list[str]) -> list[list[str]]:
    """``names`` split into the runs that happen one after the other: the tuned rows, then
    the defaults rows (empty ones left out).

    Together they would hold more connections than PostgreSQL's default limit of 100 (the
    tuned rows' pools of 10 each, and up to 15 for each SQLAlchemy pool at its defaults);
    and a library's defaults row takes the place its tuned row holds in the process (the
    default ``Database``, Tortoise's one configuration). Each pass alternates its own rows.
    """
    tuned = [name for name in names if name not in DEFAULTS_ROWS]
    defaults = [name for name in names if name in DEFAULTS_ROWS]
    return [rows for rows in (tuned, defaults) if rows]


def load(name: str) -> Contestant:
    """A new contestant called ``name`` (a driver row: its class, on its driver; a defaults
    row: its class, at its library's defaults)."""
    module_name, class_name = CONTESTANTS[name].split(":")
    module = importlib.import_module(f"{__name__}.{module_name}")
    contestant: Contestant = getattr(module, class_name)()
    if name in DRIVER_ROWS:
        contestant.name, contestant.other_driver = name, DRIVER_ROWS[name]  # type: ignore[misc]
    if name in DEFAULTS_ROWS:
        contestant.name, contestant.at_defaults = name, True  # type: ignore[misc]
    return contestant
