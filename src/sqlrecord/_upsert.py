"""The statement of ``upsert``: SQLAlchemy's ORM upsert, its UPDATE made the ORM's.

An INSERT of the mapped class through the session is the ORM's bulk INSERT: it
gives new rows their Python defaults, the version counter's first value and a
subclass's discriminator. The conflict's UPDATE is plain SQL the ORM does not
look at, so it is given here what the ORM's UPDATE of the row would set: the
chosen columns from the new row, every other column's own ``onupdate`` and the
next version.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Column, Table, inspect, literal, literal_column
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Mapper

from .exceptions import ConfigurationError

__all__ = ["upsert_statement"]


def upsert_statement(
    dialect: Dialect, model: type[Any], conflict: list[str], updated: list[str]
) -> Any:
    """``INSERT … ON CONFLICT`` (``ON DUPLICATE KEY``) for ``model``'s rows, updating
    the ``updated`` attributes of a row that collides on the ``conflict`` ones.

    Example:
        >>> from sqlalchemy.dialects import sqlite
        >>> print(upsert_statement(sqlite.dialect(), Memo, ["id"], ["text"]))  # doctest: +ELLIPSIS
        INSERT INTO doc_memos ... ON CONFLICT (id) DO UPDATE SET text = excluded.text, ...
    """
    mapper: Mapper[Any] = inspect(model)
    table = mapper.local_table
    assert isinstance(table, Table)
    column_of: dict[str, Any] = {prop.key: prop.columns[0] for prop in mapper.column_attrs}
    chosen = [column_of[name] for name in updated]
    if dialect.name in ("mysql", "mariadb"):
        statement: Any = mysql.insert(model)
        if not chosen:  # keep existing rows: assign a key column to itself
            first = column_of[conflict[0]].name
            return statement.on_duplicate_key_update({first: table.c[first]})
        assignments = {column.name: statement.inserted[column.name] for column in chosen}
        # aiomysql's and asyncmy's executemany take no parameter after VALUES: inline them.
        assignments.update(_orm_update_values(mapper, table, chosen, dialect, inline=True))
        return statement.on_duplicate_key_update(assignments)
    module: Any = postgresql if dialect.name == "postgresql" else sqlite
    statement = module.insert(model)
    index = [column_of[name].name for name in conflict]
    if not chosen:
        return statement.on_conflict_do_nothing(index_elements=index)
    assignments = {column.name: statement.excluded[column.name] for column in chosen}
    assignments.update(_orm_update_values(mapper, table, chosen, dialect, inline=False))
    return statement.on_conflict_do_update(index_elements=index, set_=assignments)


def _orm_update_values(
    mapper: Mapper[Any], table: Table, chosen: list[Any], dialect: Dialect, *, inline: bool
) -> dict[str, Any]:
    """What the ORM's UPDATE of a row sets beyond the chosen columns: each other
    column's Python or SQL ``onupdate``, and the version counter's next value."""
    values: dict[str, Any] = {}
    names = {column.name for column in chosen}
    for column in table.columns:
        onupdate = column.onupdate
        if column.name in names or onupdate is None or column is mapper.version_id_col:
            continue
        if getattr(onupdate, "is_clause_element", False):
            values[column.name] = onupdate.arg  # type: ignore[attr-defined]
        elif getattr(onupdate, "is_callable", False):
            value = onupdate.arg(None)  # type: ignore[attr-defined]
            values[column.name] = _inlined(value, column, dialect) if inline else value
        elif getattr(onupdate, "is_scalar", False):
            value = onupdate.arg  # type: ignore[attr-defined]
            values[column.name] = _inlined(value, column, dialect) if inline else value
    version = mapper.version_id_col
    if version is not None and version.name not in names:
        values.update(_next_version(mapper, table.c[version.name], dialect, inline=inline))
    return values


def _next_version(
    mapper: Mapper[Any], column: Column[Any], dialect: Dialect, *, inline: bool
) -> dict[str, Any]:
    generator = mapper.version_id_generator
    if generator is False:
        return {}  # the database sets the version (a trigger, a server_onupdate)
    assert generator is not None
    if all(generator(number) == number + 1 for number in (0, 1, 41)):
        return {column.name: column + literal_column("1")}
    try:
        value = generator(None)
    except Exception as error:
        raise ConfigurationError(
            f"upsert cannot work out {mapper.class_.__name__}'s next version: its "
            f"version_id_generator failed for a row it has not read ({error}). Update "
            "such rows with save() or update() instead."
        ) from error
    return {column.name: _inlined(value, column, dialect) if inline else value}


def _inlined(value: Any, column: Column[Any], dialect: Dialect) -> Any:
    rendered = literal(value, column.type).compile(
        dialect=dialect, compile_kwargs={"literal_binds": True}
    )
    return literal_column(str(rendered))
