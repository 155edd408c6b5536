"""What is compared: returned values (with their Python types and ORM state) and the
stored rows, read back with raw SQL. Captured without any I/O (``inspect(obj).dict``
only), then normalised so that values that differ by nature between two runs
(surrogate keys, clock readings) compare by shape.

Surrogate keys (an integer or UUID primary key of its own) become the row's rank in
its table, ranked by the row's other values; a foreign key becomes the rank of the
row it points to. A datetime becomes its shape: aware or naive, with or without
microseconds.
"""

from __future__ import annotations

import datetime as dt
import decimal
import enum
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Column, Integer, Table, Uuid, inspect, text
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.orm import Mapper

from sqlrecord import CursorPage, Page

from .models import DhBase

TABLES: list[Table] = list(DhBase.metadata.sorted_tables)

KeyMaps = dict[str, dict[str, int]]  # table name -> normalised key -> rank


@dataclass(frozen=True)
class Ref:
    """A raw key value, turned into a rank once the rows are known."""

    table: str
    value: Any


def _surrogate(table: Table) -> Column[Any] | None:
    keys = list(table.primary_key.columns)
    own = len(keys) == 1 and not keys[0].foreign_keys
    return keys[0] if own and isinstance(keys[0].type, Integer | Uuid) else None


def _key_table(column: Column[Any]) -> str | None:
    """The table whose ranks this column's values are (its own, or the one it points to)."""
    if column.foreign_keys:
        return next(iter(column.foreign_keys)).column.table.name
    table = column.table
    if isinstance(table, Table) and _surrogate(table) is column:
        return table.name
    return None


def _norm_key(value: Any) -> str:
    return str(value).replace("-", "").lower()


def python_clock(column: Any) -> bool:
    """Whether a column's time comes from a Python default (microseconds always set)
    rather than the database's clock (whose fraction may be zero, or milliseconds)."""
    default = getattr(column, "default", None)
    return bool(default is not None and getattr(default, "is_callable", False))


def shape(value: Any, fraction: bool = True) -> Any:
    """A scalar as (type, comparable value); datetimes by shape only (with ``fraction``,
    whether they have microseconds)."""
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        kind = "aware" if value.tzinfo else "naive"
        return ("datetime", kind, bool(value.microsecond) if fraction else "?")
    if isinstance(value, decimal.Decimal):
        return ("Decimal", str(value))
    if isinstance(value, enum.Enum):
        return (type(value).__name__, value.name)
    if isinstance(value, uuid.UUID):
        return ("UUID", "?")
    if isinstance(value, dict | list):
        return (type(value).__name__, repr(value))
    return (type(value).__name__, value)


def _raw_shape(value: Any, fraction: bool) -> Any:
    """Like :func:`shape`, for what the driver returns to raw SQL (text dates on SQLite)."""
    if isinstance(value, str) and len(value) >= 19 and value[4] == "-" and value[10] in " T":
        tail = value[19:]
        parts = tail.startswith(".") and tail[1:7].strip("0") != "" if fraction else "?"
        return ("datetime-text", "+" in tail or tail.endswith("Z"), parts)
    return shape(value, fraction)


def capture(value: Any, depth: int = 0) -> Any:
    """A returned value as plain data, keys left raw (see :func:`normalise`)."""
    state = getattr(value, "_sa_instance_state", None)
    if state is not None:
        return _capture_object(value, depth)
    if isinstance(value, Page):
        fields = {"items": value.items, "total": value.total, "page": value.page}
        return capture({**fields, "per_page": value.per_page}, depth)
    if isinstance(value, CursorPage):
        fields = {"items": value.items, "has_next": value.has_next}
        return capture({**fields, "next": value.next_cursor is not None}, depth)
    if isinstance(value, list | tuple):
        return [capture(each, depth) for each in value]
    if isinstance(value, dict):
        return {key: capture(each, depth) for key, each in sorted(value.items())}
    # A bare value (in a dict from to_dict() or values()) names no column, so whose clock
    # made a datetime is unknown: the database's may give a zero fraction (SQLite keeps
    # milliseconds: one read in a thousand), so its fraction is not compared.
    return shape(value, fraction=False)


def _capture_object(obj: Any, depth: int) -> dict[str, Any]:
    state = inspect(obj)
    mapper: Mapper[Any] = state.mapper
    values: dict[str, Any] = {}
    for prop in mapper.column_attrs:
        if prop.key not in state.dict:
            continue
        raw = state.dict[prop.key]
        column = prop.columns[0]
        table = _key_table(column) if isinstance(column, Column) else None
        if table and raw is not None:
            values[prop.key] = Ref(table, raw)
        else:
            values[prop.key] = shape(raw, python_clock(column))
    for rel in mapper.relationships:
        if rel.key in state.dict and depth == 0:
            loaded = state.dict[rel.key]
            values[rel.key] = capture(list(loaded) if rel.uselist else loaded, depth + 1)
    return {
        "class": type(obj).__name__,
        "state": _state_name(state),
        "unloaded": sorted(state.unloaded),
        "expired": sorted(state.expired_attributes),
        "values": values,
    }


def _state_name(state: Any) -> str:
    if state.was_deleted and (state.deleted or state.detached):
        # The ORM keeps a deleted object "deleted" while its closed session is still
        # referenced, "detached" once it is collected: one state for comparing.
        return "deleted-or-detached"
    for name in ("transient", "pending", "deleted", "persistent", "detached"):
        if getattr(state, name):
            return name
    return "?"


async def read_rows(engine: AsyncEngine) -> dict[str, list[dict[str, Any]]]:
    """Every catalogue table's rows, through raw SQL on a connection of the reader's own."""
    rows: dict[str, list[dict[str, Any]]] = {}
    async with engine.connect() as connection:
        for table in TABLES:
            result = await connection.execute(text(f"SELECT * FROM {table.name}"))
            rows[table.name] = [dict(row) for row in result.mappings()]
    return rows


def rank_rows(raw: dict[str, list[dict[str, Any]]]) -> tuple[dict[str, list[Any]], KeyMaps]:
    """Normalised rows per table, and each table's surrogate key -> rank map."""
    maps: KeyMaps = {}
    tables: dict[str, list[Any]] = {}
    for table in TABLES:  # parents before children: foreign keys map through parents
        surrogate = _surrogate(table)
        normalised = []
        for row in raw[table.name]:
            cells = []
            for column in table.columns:
                value = row[column.name]
                if column is surrogate:
                    continue
                target = _key_table(column)
                if target is not None and value is not None:
                    cells.append((column.name, maps[target].get(_norm_key(value), "gone")))
                else:
                    cells.append((column.name, _raw_shape(value, python_clock(column))))
            normalised.append((repr(cells), row))
        normalised.sort(key=lambda pair: pair[0])
        if surrogate is not None:
            maps[table.name] = {
                _norm_key(row[surrogate.name]): rank for rank, (_, row) in enumerate(normalised)
            }
        tables[table.name] = [cells for cells, _ in normalised]
    return tables, maps


def flatten(value: Any, path: str, into: dict[str, Any]) -> dict[str, Any]:
    """Nested observations as path -> leaf, so each differing part is named on its own.

    An object becomes ``path.class``, ``path.state``, ``path.unloaded``, ``path.expired``
    and ``path.values.<attribute>``; lists of the same length flatten item by item
    (lists of another length, and event lists, stay one leaf)."""
    if isinstance(value, dict) and not path.startswith("events"):
        if not value:
            into[path] = value
        for key, each in value.items():
            flatten(each, f"{path}.{key}", into)
    elif isinstance(value, list) and any(isinstance(each, dict | list) for each in value):
        into[f"{path}.len"] = len(value)
        for index, each in enumerate(value):
            flatten(each, f"{path}[{index}]", into)
    else:
        into[path] = value
    return into


def normalise(value: Any, maps: KeyMaps) -> Any:
    """Turn the raw keys in a captured value into ranks."""
    if isinstance(value, Ref):
        return ("key", value.table, maps.get(value.table, {}).get(_norm_key(value.value), "gone"))
    if isinstance(value, list):
        return [normalise(each, maps) for each in value]
    if isinstance(value, tuple):
        return tuple(normalise(each, maps) for each in value)
    if isinstance(value, dict):
        return {key: normalise(each, maps) for key, each in value.items()}
    return value
