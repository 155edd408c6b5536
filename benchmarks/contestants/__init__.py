"""The contestants, imported by name so a child process loads only the one it measures."""

from __future__ import annotations

import importlib

from ..targets import Target
from .base import Contestant

__all__ = ["CONTESTANTS", "DRIVER_ROWS", "available", "load"]

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
}

#: The driver rows: a contestant on another driver of the same database (the others run on
#: the target's first driver, asyncpg or aiomysql). name -> driver.
DRIVER_ROWS: dict[str, str] = {
    "orm-psycopg": "psycopg",
    "sqlrecord-psycopg": "psycopg",
    "orm-asyncmy": "asyncmy",
    "sqlrecord-asyncmy": "asyncmy",
}


def available(name: str, target: Target) -> bool:
    """Whether ``name`` runs on ``target``: a driver row only where its driver reaches it."""
    return name not in DRIVER_ROWS or DRIVER_ROWS[name] in target.other_drivers


def load(name: str) -> Contestant:
    """A new contestant called ``name`` (a driver row: its class, on its driver)."""
    module_name, class_name = CONTESTANTS[name].split(":")
    module = importlib.import_module(f"{__name__}.{module_name}")
    contestant: Contestant = getattr(module, class_name)()
    if name in DRIVER_ROWS:
        contestant.name, contestant.other_driver = name, DRIVER_ROWS[name]  # type: ignore[misc]
    return contestant
