"""What the database and the unit of work allow a call, as the planner (``_plan.py``) reads it."""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["UnitFacts"]


class UnitFacts(NamedTuple):
    """What the database allows: ``fast_paths`` (``Database(fast_paths=...)``),
    ``autocommit`` (a statement can be its own transaction at no cost: on SQLite and
    PostgreSQL always, on MySQL/MariaDB through the pool of autocommit connections that
    ``Database(autocommit_pool=False)`` gives up: ``_begin.autocommit_is_free``), ``savepoints_off``
    (``db.transaction(savepoints=False)``, directly in its unit), and ``pinned`` (a
    test's transaction holds the database's one connection: ``sqlrecord.testing``; an
    own session joins it, nothing goes around it).

    Example:
        >>> UnitFacts(fast_paths=True, autocommit=False, savepoints_off=False).autocommit
        False
    """

    fast_paths: bool
    autocommit: bool
    savepoints_off: bool
    pinned: bool = False
