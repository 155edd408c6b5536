"""Run one operation twice, once through sqlrecord and once as plain ``AsyncSession``
code, on freshly seeded tables, and compare everything each side left behind.

A side runs in one of three session kinds:

- ``own``: no session anywhere. sqlrecord opens, commits and closes its own; the
  plain side opens a session per logical call and commits it (``side.call()``).
- ``transaction``: sqlrecord inside ``async with db.transaction():``; the plain side
  inside ``async with db.sessionmaker() as s, s.begin():``.
- ``served``: a session from ``db.sessionmaker()`` passed as ``session=`` (the plain
  side uses it directly), committed at the end.
"""

from __future__ import annotations

import contextlib
import fnmatch
import json
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.orm import exc as orm_exc

from sqlrecord import Database
from sqlrecord import exceptions as rec_exc

from .differences import DIFFERENCES
from .observe import capture, flatten, normalise, rank_rows, read_rows
from .recorder import recording
from .seed import seed

# own: no session anywhere; transaction: `async with db.transaction()`; served: a
# session passed as session=; request: FastAPI's `Depends(db.session)` (the ambient
# session of a request, committed by the route).
KINDS = ("own", "transaction", "served", "request")
SIDES = ("sqlrecord", "orm")


class Side:
    """What an operation's coroutine gets: where to run, and the seeded keys."""

    def __init__(self, name: str, db: Database, kind: str, keys: dict[str, Any]) -> None:
        self.name = name
        self.db = db
        self.kind = kind
        self.keys = keys
        self.unit: AsyncSession | None = None  # the unit's session (plain side, served kind)
        self.notes: dict[str, Any] = {}

    @property
    def s(self) -> AsyncSession | None:
        """What sqlrecord calls get as ``session=``: the served session, else None."""
        return self.unit if self.kind == "served" else None

    @asynccontextmanager
    async def call(self, *, read: bool = False) -> AsyncIterator[AsyncSession]:
        """The plain side's session for one logical call: the unit's, or (own kind) a
        new one that is closed when the call ends, committed first unless ``read``."""
        if self.unit is not None:
            yield self.unit
            return
        async with self.db.sessionmaker() as session:
            yield session
            if not read:
                await session.commit()

    async def attempt(self, key: str, work: Awaitable[Any]) -> Any:
        """Run ``work``; a failure is kept as the note ``key`` (its kind and class)."""
        try:
            return await work
        except Exception as error:
            self.notes[key] = error_signature(error)
            return None

    def note(self, key: str, value: Any) -> None:
        """Keep an observation made mid-operation (captured now, compared later)."""
        self.notes[key] = capture(value)


OpFn = Callable[[Side], Awaitable[Any]]


@dataclass(frozen=True)
class Op:
    """One operation: the sqlrecord way, the plain way, where it applies, and which of
    its comparisons are expected to differ (``"kind:key"`` or ``"key"`` -> difference id;
    a key covers every comparison whose name starts with it)."""

    name: str
    rec: OpFn
    orm: OpFn
    kinds: tuple[str, ...] = KINDS
    watches: tuple[str, ...] = ("engine", "session")
    expected: dict[str, str] = field(default_factory=dict)
    skip: tuple[str, ...] = ()  # comparisons that say nothing for this op, with a reason

    def covered_by(self, kind: str, key: str) -> str | None:
        """The difference id an expected difference names for this comparison, if any:
        ``expected`` maps ``"pattern"`` or ``"kind:pattern"`` (fnmatch) to an id."""
        for pattern, difference in self.expected.items():
            wanted_kind, _, wanted_key = pattern.rpartition(":")
            if wanted_kind and wanted_kind != kind:
                continue
            if fnmatch.fnmatchcase(key, wanted_key):
                assert difference in DIFFERENCES, difference
                return difference
        return None


@dataclass
class Tally:
    """The run's counts, for the terminal summary."""

    operations: set[str] = field(default_factory=set)
    cases: int = 0
    comparisons: int = 0
    divergences: list[str] = field(default_factory=list)
    exercised: dict[str, int] = field(default_factory=dict)


TALLY = Tally()


def error_kind(error: BaseException) -> str:
    """What kind of failure, whoever reported it (sqlrecord's typed error or the ORM's)."""
    pairs: list[tuple[type[BaseException] | tuple[type[BaseException], ...], str]] = [
        ((rec_exc.IntegrityConstraintError, sa_exc.IntegrityError), "integrity"),
        ((rec_exc.StaleObjectError, orm_exc.StaleDataError), "stale"),
        ((rec_exc.NotFoundError, sa_exc.NoResultFound, orm_exc.ObjectDeletedError), "not-found"),
        ((rec_exc.MultipleResultsError, sa_exc.MultipleResultsFound), "multiple"),
    ]
    for classes, kind in pairs:
        if isinstance(error, classes):
            return kind
    if isinstance(error, sa_exc.DBAPIError) and _mysql_code(error) == MARIADB_CHECK_FAILED:
        return "integrity"
    return type(error).__name__


MARIADB_CHECK_FAILED = 4025  # MariaDB's code for a CHECK constraint that failed


def _mysql_code(error: sa_exc.DBAPIError) -> Any:
    args = getattr(error.orig, "args", ())
    return args[0] if args else None


def error_signature(error: BaseException) -> tuple[str, str, str]:
    return (error_kind(error), type(error).__module__, type(error).__name__)


async def _wipe_and_seed(raw: AsyncEngine) -> dict[str, Any]:
    async with raw.begin() as connection:
        return await seed(connection)


async def run_side(
    name: str, op: Op, db: Database, raw: AsyncEngine, kind: str, watch: str
) -> dict[str, Any]:
    """One side of a case, from seeding to the rows it left; returns its observations."""
    keys = await _wipe_and_seed(raw)
    side = Side(name, db, kind, keys)
    function = op.rec if name == "sqlrecord" else op.orm
    seen: dict[str, Any] = {}
    with recording(db.engine, watch) as log:
        try:
            seen["result"] = capture(await _in_unit(side, function, seen))
            seen["error"] = None
        except Exception as error:  # the kind of failure is one of the comparisons
            seen["error"] = error_signature(error)
        seen.update(log.groups())
    tables, maps = rank_rows(await read_rows(raw))
    observed = {f"rows.{table}": rows for table, rows in tables.items()}
    for key, value in {**seen, **{f"note.{k}": v for k, v in side.notes.items()}}.items():
        if key.startswith("events") or key.endswith("error"):
            observed[key] = value
        else:
            flatten(normalise(value, maps), key, observed)
    return observed


async def _in_unit(side: Side, function: OpFn, seen: dict[str, Any]) -> Any:
    if side.kind == "own":
        return await function(side)
    if side.kind == "transaction":
        if side.name == "sqlrecord":
            async with side.db.transaction():
                result = await function(side)
                seen["inside.result"] = capture(result)
            return result
        async with side.db.sessionmaker() as session, session.begin():
            side.unit = session
            result = await function(side)
            seen["inside.result"] = capture(result)
        return result
    if side.kind == "request" and side.name == "sqlrecord":
        return await _in_request(side, function, seen)
    async with side.db.sessionmaker() as session:
        side.unit = session
        result = await function(side)
        seen["inside.result"] = capture(result)
        await session.commit()
    return result


async def _in_request(side: Side, function: OpFn, seen: dict[str, Any]) -> Any:
    """As FastAPI runs a route that depends on ``db.session``: the dependency's session
    is the ambient one, the route commits, and the dependency is resumed at the end
    (or given the route's error)."""
    dependency = side.db.session()
    session = await dependency.__anext__()
    try:
        result = await function(side)
        seen["inside.result"] = capture(result)
        await session.commit()
    except Exception as error:
        with contextlib.suppress(type(error)):
            await dependency.athrow(error)
        raise
    with contextlib.suppress(StopAsyncIteration):
        await dependency.__anext__()
    return result


def compare(op: Op, kind: str, where: str, rec: dict[str, Any], orm: dict[str, Any]) -> list[str]:
    """The divergences between the two sides' observations (documented ones tallied)."""
    found = []
    for key in sorted(set(rec) | set(orm)):
        if any(key.startswith(skipped) for skipped in op.skip):
            continue
        TALLY.comparisons += 1
        mine, theirs = rec.get(key, "<absent>"), orm.get(key, "<absent>")
        if mine == theirs and not (key.endswith("error") and _untyped(mine)):
            continue
        difference = op.covered_by(kind, key) or _general_difference(kind, where, key, mine, theirs)
        if difference is not None:
            TALLY.exercised[difference] = TALLY.exercised.get(difference, 0) + 1
            continue
        found.append(
            f"{op.name} [{where}] {key}:\n    sqlrecord: {mine!r}\n    orm:       {theirs!r}"
        )
        _dump({"op": op.name, "where": where, "key": key, "sqlrecord": mine, "orm": theirs})
    TALLY.divergences.extend(found)
    return found


def _dump(divergence: dict[str, Any]) -> None:
    """With DH_DIVERGENCES=path set, append each divergence there as a JSON line."""
    path = os.environ.get("DH_DIVERGENCES")
    if path:
        with open(path, "a", encoding="utf-8") as out:
            out.write(json.dumps(divergence, default=repr) + "\n")


def _untyped(mine: Any) -> bool:
    """A database error that reached the caller raw from sqlrecord (it promises typed ones)."""
    return (
        isinstance(mine, tuple | list)
        and mine[1] == "sqlalchemy.exc"
        and mine[2]
        in (
            "IntegrityError",
            "OperationalError",
            "DataError",
            "ProgrammingError",
            "InternalError",
        )
    )


def _general_difference(kind: str, where: str, key: str, mine: Any, theirs: Any) -> str | None:
    """The differences that hold for every operation, recognised by their shape."""
    if key.endswith("error") and _same_kind_typed(mine, theirs):
        return "typed-errors"
    if (
        kind in ("transaction", "own")
        and "sqlite" in where
        and key in ("events.engine", "events.session")
        and _begins_moved_only(mine, theirs)
    ):
        return "sqlite-begin-immediate"
    return None


def _begins_moved_only(mine: list[str], theirs: list[str]) -> bool:
    """Whether the two event lists differ only in where their BEGINs come (as many of
    them, every other event in the same order)."""
    begins = ("begin", "after_begin")

    def others(events: list[str]) -> list[str]:
        return [name for name in events if name not in begins]

    def count(events: list[str]) -> int:
        return sum(name in begins for name in events)

    return others(mine) == others(theirs) and count(mine) == count(theirs)


def _same_kind_typed(mine: Any, theirs: Any) -> bool:
    return (
        isinstance(mine, tuple)
        and isinstance(theirs, tuple)
        and mine[0] == theirs[0]
        and mine[1] == rec_exc.__name__
        and theirs[1] != rec_exc.__name__
    )


def operation_names(ops: Iterable[Op]) -> list[str]:
    names = [op.name for op in ops]
    assert len(names) == len(set(names)), "operation names must be unique"
    return names
