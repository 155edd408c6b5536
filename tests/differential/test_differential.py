"""sqlrecord against the plain ORM: one test per (operation, session kind, watch level),
run on every backend and mode. A test fails on any divergence that no documented
difference covers, naming the operation, session kind, database, mode and values."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from sqlrecord import Database

from .differences import DIFFERENCES
from .harness import TALLY, Op, compare, operation_names, run_side
from .ops_annot import ANNOT_OPS
from .ops_bulk import BULK_OPS
from .ops_bulkupd import BULKUPD_OPS
from .ops_crud import CRUD_OPS
from .ops_fexpr import FEXPR_OPS
from .ops_jsonlk import JSONLK_OPS
from .ops_query import QUERY_OPS
from .ops_shape import SHAPE_OPS
from .ops_units import UNIT_OPS

OPERATIONS: list[Op] = [
    *CRUD_OPS,
    *UNIT_OPS,
    *BULK_OPS,
    *QUERY_OPS,
    *JSONLK_OPS,
    *ANNOT_OPS,
    *SHAPE_OPS,
    *BULKUPD_OPS,
    *FEXPR_OPS,
]
operation_names(OPERATIONS)


def _watches(op: Op, kind: str) -> tuple[str, ...]:
    """The op's watch levels, and for an own session, where statements can leave the
    ``Connection`` for the driver when nothing listens, ``none`` before them."""
    unwatched = kind == "own" and "engine" in op.watches
    return ("none", *op.watches) if unwatched else op.watches


CASES = [
    pytest.param(op, kind, watch, id=f"{op.name}-{kind}-{watch}")
    for op in OPERATIONS
    for kind in op.kinds
    for watch in _watches(op, kind)
]

# The cases that can leave SQLAlchemy's Connection for the driver (an own session, nothing
# listening): the driver is part of what they compare, so they also run on asyncmy.
DRIVER_CASES = [
    pytest.param(op, id=f"{op.name}-own-none")
    for op in OPERATIONS
    if "own" in op.kinds and "none" in _watches(op, "own")
]

DOC = Path(__file__).resolve().parents[2] / "docs" / "differences.md"


# What it compares is sqlrecord's logic against the ORM's on each database; the target
# fixture leaves out the other drivers' backends (tests/conftest.py says why).
@pytest.mark.driver_agnostic
@pytest.mark.parametrize(("op", "kind", "watch"), CASES)
async def test_same_as_orm(
    target: tuple[Database, AsyncEngine, str], op: Op, kind: str, watch: str
) -> None:
    database, reader, where = target
    TALLY.operations.add(op.name)
    TALLY.cases += 1
    rec = await run_side("sqlrecord", op, database, reader, kind, watch)
    orm = await run_side("orm", op, database, reader, kind, watch)
    found = compare(op, kind, f"{kind}, {where}, watch={watch}", rec, orm)
    assert not found, "sqlrecord diverges from the ORM:\n" + "\n".join(found)


@pytest.mark.parametrize("op", DRIVER_CASES)
async def test_same_as_orm_on_the_other_mysql_driver(
    driver_target: tuple[Database, AsyncEngine, str], op: Op
) -> None:
    await test_same_as_orm(driver_target, op, "own", "none")


def test_documented_differences_match_the_doc() -> None:
    rows = re.findall(r"^\| `([a-z0-9-]+)` \|", DOC.read_text(encoding="utf-8"), re.MULTILINE)
    assert sorted(rows) == sorted(DIFFERENCES)
    referenced = {value for op in OPERATIONS for value in op.expected.values()}
    assert referenced <= set(DIFFERENCES)
