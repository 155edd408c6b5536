"""Private names of SQLAlchemy's execution layer: what a ``Connection`` does to one
statement (compiles it through the engine's cache, fills in its defaults, processes its
parameters, reads back its inserted key, returned values and rows), for ``_internals.direct``,
which sends a statement on a pooled driver connection without a ``Connection``."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.engine import Dialect
from sqlalchemy.sql import compiler
from sqlalchemy.sql.compiler import SQLCompiler

__all__ = [
    "Compiled",
    "FilledDefault",
    "compile_cached",
    "inserted_key",
    "positional_parameters",
    "prefetched_defaults",
    "processed_rows",
    "result_keys",
    "returned_by_insert",
    "rows_by_position",
]


@dataclass(frozen=True, slots=True)
class Compiled:
    """A statement compiled through its engine's cache, as a ``Connection`` compiles it:
    the compiled form (shared by every statement of the same shape) and what this
    statement brings to it (its literal values, its ``params()``)."""

    compiled: SQLCompiler
    extracted: Any
    collected: Any


def compile_cached(statement: Any, engine: Engine, column_keys: list[str]) -> Compiled:
    """``statement`` compiled for ``column_keys`` (its parameters' names) through
    ``engine``'s compiled cache, as ``Connection.execute`` compiles it
    (``ClauseElement._compile_w_cache`` and ``Engine._compiled_cache`` are private; 2.0
    returns three values, 2.1 four).

    Example:
        >>> from sqlalchemy import column, create_engine, select
        >>> engine = create_engine("sqlite://")
        >>> first = compile_cached(select(column("a")).where(column("a") == 1), engine, [])
        >>> second = compile_cached(select(column("a")).where(column("a") == 2), engine, [])
        >>> first.compiled is second.compiled, [p.value for p in second.extracted]
        (True, [2])
    """
    got = statement._compile_w_cache(
        dialect=engine.dialect,
        compiled_cache=engine._compiled_cache,
        column_keys=column_keys,
        for_executemany=False,
        schema_translate_map=None,
        linting=engine.dialect.compiler_linting | compiler.WARN_LINTING,
    )
    collected = got[2] if len(got) == 4 else None
    compiled: SQLCompiler = got[0]
    return Compiled(compiled, got[1], collected)


#: A Python-side default an INSERT's execution fills in: the parameter's name, and what
#: gives its value.
FilledDefault = tuple[str, Callable[[], Any]]


def prefetched_defaults(compiled: SQLCompiler) -> list[FilledDefault] | None:
    """The Python-side column defaults (of an INSERT) or ``onupdate`` values (of an
    UPDATE) the execution of ``compiled`` fills in (``SQLCompiler.insert_prefetch``,
    ``update_prefetch``), as ``DefaultExecutionContext`` fills them: a scalar, or a
    function called without arguments; ``None`` when one needs the execution context (a
    function that takes it, a sequence, a SQL expression run first). Read through the
    column's private description tuples and the compiler's parameter key getter.

    Example:
        >>> from sqlalchemy import Column, Integer, MetaData, String, Table
        >>> from sqlalchemy.dialects import mysql
        >>> table = Table("t", MetaData(), Column("id", Integer, primary_key=True),
        ...               Column("unit", String(5), default="mm", onupdate="cm"),
        ...               Column("code", String(5), default=lambda: "x"),
        ...               Column("ctx", String(5), default=lambda context: "y"))
        >>> dialect = mysql.dialect()
        >>> filled = prefetched_defaults(table.insert().compile(dialect=dialect,
        ...                                                     column_keys=["ctx"]))
        >>> [(name, value()) for name, value in filled]
        [('unit', 'mm'), ('code', 'x')]
        >>> prefetched_defaults(table.insert().compile(dialect=dialect, column_keys=[])) is None
        True
        >>> filled = prefetched_defaults(table.update().compile(dialect=dialect,
        ...                                                     column_keys=["code"]))
        >>> [(name, value()) for name, value in filled]
        [('unit', 'cm')]
    """
    if not compiled.insert_prefetch and not compiled.update_prefetch:
        return []  # a SELECT has no key getter
    key_of: Any = compiled._within_exec_param_key_getter
    if compiled.insert_prefetch:
        described = [(c, c._default_description_tuple, c.default) for c in compiled.insert_prefetch]
    else:
        described = [
            (c, c._onupdate_description_tuple, c.onupdate) for c in compiled.update_prefetch
        ]
    filled: list[FilledDefault] = []
    for column, (value, is_scalar, is_callable, is_sentinel), default in described:
        if is_sentinel:
            return None
        if is_scalar:
            filled.append((key_of(column), functools.partial(_same, value)))
        elif is_callable:
            plain = _without_context(value)
            if plain is None:
                return None
            filled.append((key_of(column), plain))
        elif default is not None:
            return None
    return filled


def _same(value: Any) -> Any:
    return value


def _without_context(default: Any) -> Callable[[], Any] | None:
    """The function a callable column default wraps when it takes no argument (SQLAlchemy
    wraps it in one that takes the context and drops it); ``None`` for one that takes the
    context itself."""
    wrapped = getattr(default, "__wrapped__", None)
    if wrapped is None or not callable(wrapped):
        return None
    try:
        inspect.signature(wrapped).bind()
    except (TypeError, ValueError):
        return None
    plain: Callable[[], Any] = wrapped
    return plain


def positional_parameters(
    compiled: SQLCompiler,
    dialect: Dialect,
    parameters: dict[str, Any],
    defaults: Sequence[FilledDefault] = (),
    brought: Compiled | None = None,
) -> tuple[dict[str, Any], Sequence[Any]]:
    """The compiled parameters of ``parameters`` with ``defaults`` filled in (by bind name,
    before processing), and the sequence the driver receives (each value through its
    type's bind processor, in the order of the statement's placeholders), as
    ``DefaultExecutionContext._init_compiled`` builds them for a positional statement,
    with what the statement ``brought`` to a cached compiled form (:func:`compile_cached`);
    ``SQLCompiler._bind_processors`` is private.

    Example:
        >>> from sqlalchemy import column, select
        >>> from sqlalchemy.dialects import mysql
        >>> dialect = mysql.dialect(paramstyle="format")
        >>> compiled = select(column("a")).where(column("a") == 5).compile(dialect=dialect)
        >>> positional_parameters(compiled, dialect, {})
        ({'a_1': 5}, (5,))
    """
    extra: dict[str, Any] = {}
    if brought is not None:
        extra["extracted_parameters"] = brought.extracted
        if brought.collected is not None:
            extra["_collected_params"] = brought.collected
    compiled_parameters: Any = compiled.construct_params(parameters, escape_names=False, **extra)
    for name, value in defaults:
        compiled_parameters[name] = value()
    processors: Any = compiled._bind_processors
    assert compiled.positiontup is not None
    sent = [
        processors[key](compiled_parameters[key]) if key in processors else compiled_parameters[key]
        for key in compiled.positiontup
    ]
    return compiled_parameters, dialect.execute_sequence_format(sent)


def inserted_key(
    compiled: SQLCompiler, lastrowid: Any, compiled_parameters: dict[str, Any]
) -> Sequence[Any]:
    """The primary key of the row an INSERT wrote, from the cursor's ``lastrowid`` and the
    compiled parameters, as ``CursorResult.inserted_primary_key`` gives it
    (``SQLCompiler._inserted_primary_key_from_lastrowid_getter`` is private).

    Example:
        >>> from sqlalchemy import Column, Integer, MetaData, Table
        >>> from sqlalchemy.dialects import mysql
        >>> table = Table("t", MetaData(), Column("id", Integer, primary_key=True))
        >>> compiled = table.insert().compile(dialect=mysql.dialect(), column_keys=[])
        >>> tuple(inserted_key(compiled, 7, {}))
        (7,)
    """
    getter: Any = compiled._inserted_primary_key_from_lastrowid_getter
    row: Sequence[Any] = getter(lastrowid, compiled_parameters)
    return row


def returned_by_insert(
    compiled: SQLCompiler,
    dialect: Dialect,
    description: Sequence[Any],
    row: Sequence[Any],
    compiled_parameters: dict[str, Any],
) -> tuple[dict[Any, Any], Sequence[Any]]:
    """What an INSERT … RETURNING of sqlrecord's (``return_defaults``) gives back, from the
    driver's ``row`` and cursor ``description``: the returned values by column (each
    through its type's result processor, as ``CursorResult.returned_defaults`` holds
    them), and the inserted primary key (``CursorResult.inserted_primary_key``). The
    type's processor cache and the compiler's key getter are private.

    Example:
        >>> from sqlalchemy import Column, DateTime, Integer, MetaData, Table, func
        >>> from sqlalchemy.dialects import mysql
        >>> table = Table("t", MetaData(), Column("id", Integer, primary_key=True),
        ...               Column("at", DateTime, server_default=func.now()))
        >>> dialect = mysql.dialect()
        >>> dialect.insert_returning = True  # as MariaDB 10.5 and later
        >>> compiled = table.insert().return_defaults(table.c.at).compile(
        ...     dialect=dialect, column_keys=[])
        >>> print(compiled)
        INSERT INTO t () VALUES () RETURNING t.id, t.at
        >>> values, key = returned_by_insert(compiled, dialect, [("id", 3), ("at", 12)],
        ...                                  (7, None), {})
        >>> values[table.c.id], tuple(key)
        (7, (7,))
    """
    returning: Any = compiled.implicit_returning
    values = {}
    for column, described, value in zip(returning, description, row, strict=True):
        processor = column.type._cached_result_processor(dialect, described[1])
        values[column] = processor(value) if processor is not None else value
    processed = tuple(values.values())
    getter: Any = compiled._inserted_primary_key_from_returning_getter
    key: Sequence[Any] = getter(processed, compiled_parameters)
    return values, key


def processed_rows(
    compiled: SQLCompiler, dialect: Dialect, description: Sequence[Any], rows: Sequence[Any]
) -> Sequence[Sequence[Any]] | None:
    """The driver's ``rows`` of the SELECT ``compiled``, each value through its column
    type's result processor for the driver's type in ``description`` (rows with such a
    value as lists, the others as the driver gave them), as a
    ``CursorResult`` matches a compiled statement's columns to the cursor's by position
    (``CursorResultMetaData._merge_cursor_description``'s common case;
    ``SQLCompiler._result_columns`` and the type's processor cache are private).
    ``None`` when the cursor's columns are not the statement's, one for one.

    Example:
        >>> from sqlalchemy import Column, Integer, MetaData, String, Table, TypeDecorator, select
        >>> from sqlalchemy.dialects import mysql
        >>> class Upper(TypeDecorator):
        ...     impl, cache_ok = String(10), True
        ...     def process_result_value(self, value, dialect): return value.upper()
        >>> table = Table("t", MetaData(), Column("id", Integer), Column("code", Upper))
        >>> dialect = mysql.dialect()
        >>> compiled = select(table).compile(dialect=dialect)
        >>> processed_rows(compiled, dialect, [("id", 3), ("code", 253)], [(7, "ab")])
        [[7, 'AB']]
    """
    columns: Any = compiled._result_columns
    if not rows_by_position(compiled) or len(columns) != len(description):
        return None
    processed = [
        (at, processor)
        for at, (entry, described) in enumerate(zip(columns, description, strict=True))
        if (processor := entry[3]._cached_result_processor(dialect, described[1])) is not None
    ]
    if not processed:
        return rows  # as the driver gives them: tuples, or records read as tuples
    changed = []
    for row in rows:
        values = list(row)
        for at, processor in processed:
            values[at] = processor(values[at])
        changed.append(values)
    return changed


def rows_by_position(compiled: SQLCompiler) -> bool:
    """Whether a ``CursorResult`` of ``compiled`` matches the cursor's columns to the
    statement's by position (its common case: a compiled SELECT, not textual SQL), as
    :func:`processed_rows` does; ``SQLCompiler._ordered_columns`` is private.

    Example:
        >>> from sqlalchemy import column, select, text
        >>> rows_by_position(select(column("a")).compile())
        True
        >>> rows_by_position(text("SELECT a").columns(column("a")).compile())
        False
    """
    return bool(compiled._ordered_columns) and not compiled._textual_ordered_columns


def result_keys(compiled: SQLCompiler) -> list[str]:
    """The keys a ``CursorResult`` of the SELECT ``compiled`` has (``result.keys()``), in
    the case :func:`rows_by_position` describes (``SQLCompiler._result_columns``).

    Example:
        >>> from sqlalchemy import column, func, select
        >>> result_keys(select(column("a"), func.count().label("n")).compile())
        ['a', 'n']
    """
    return [entry[0] for entry in compiled._result_columns]
