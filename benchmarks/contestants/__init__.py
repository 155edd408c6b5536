"""The contestants, imported by name so a child process loads only the one it measures."""

from __future__ import annotations

import importlib

from .base import Contestant

__all__ = ["CONTESTANTS", "load"]

#: name -> "module:Class", in the order the report shows them.
CONTESTANTS: dict[str, str] = {
    "raw": "raw:RawContestant",
    "core": "core:CoreContestant",
    "orm": "orm:OrmContestant",
    "sqlrecord": "sqlrecord_:SqlrecordContestant",
    "tortoise": "tortoise_:TortoiseContestant",
    "sqlactive": "sqlactive_:SqlactiveContestant",
}


def load(name: str) -> Contestant:
    """A new contestant called ``name``."""
    module_name, class_name = CONTESTANTS[name].split(":")
    module = importlib.import_module(f"{__name__}.{module_name}")
    contestant: Contestant = getattr(module, class_name)()
    return contestant
