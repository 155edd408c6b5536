"""Text lookups with one meaning on every database.

``contains``/``startswith``/``endswith`` match their value literally (``%``
and ``_`` are plain characters) and are case-sensitive even where the default
collation is not (MySQL/MariaDB, and SQLite's LIKE); the ``i`` forms fold case
everywhere, Unicode included. ``like``/``ilike`` take raw patterns where ``%``
and ``_`` are the only special characters.

No LIKE pattern is built from the value: each dialect tests the substring
with its own functions, so no escaping is needed and nothing the user typed
becomes pattern syntax by accident. SQLite gets two Python functions
(registered on each connection, see ``_dialects``) for Unicode case folding
and for case-sensitive LIKE.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from sqlalchemy import Boolean, bindparam
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql import ColumnElement
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.types import String

from ._internals import traversed_attributes

__all__ = ["SQLITE_FUNCTIONS", "TextMatch"]


@traversed_attributes(column="clause", value="clause", kind="string", case_sensitive="boolean")
class TextMatch(ColumnElement[bool]):
    """``column`` contains / starts with / ends with / is like ``value``."""

    __visit_name__ = "sqlrecord_match"
    inherit_cache = True
    type = Boolean()

    def __init__(self, column: Any, value: str, *, kind: str, case_sensitive: bool) -> None:
        self.column = (
            column.__clause_element__() if hasattr(column, "__clause_element__") else column
        )
        self.value = bindparam(None, value, type_=String(), unique=True)
        self.kind = kind
        self.case_sensitive = case_sensitive


def _parts(element: TextMatch, compiler: SQLCompiler, **kw: Any) -> tuple[str, str]:
    return compiler.process(element.column, **kw), compiler.process(element.value, **kw)


@compiles(TextMatch)
def _postgresql(element: TextMatch, compiler: SQLCompiler, **kw: Any) -> str:
    column, value = _parts(element, compiler, **kw)
    if element.kind == "like":
        operator = "LIKE" if element.case_sensitive else "ILIKE"
        return f"({column} {operator} {value} ESCAPE '')"
    if not element.case_sensitive:
        column, value = f"lower({column})", f"lower({value})"
    if element.kind == "contains":
        return f"(strpos({column}, {value}) > 0)"
    side = "left" if element.kind == "startswith" else "right"
    return f"({side}({column}, char_length({value})) = {value})"


@compiles(TextMatch, "sqlite")
def _sqlite(element: TextMatch, compiler: SQLCompiler, **kw: Any) -> str:
    column, value = _parts(element, compiler, **kw)
    if element.kind == "like":
        function = "sqlrecord_like" if element.case_sensitive else "sqlrecord_ilike"
        return f"({function}({column}, {value}) = 1)"
    if not element.case_sensitive:
        column, value = f"sqlrecord_lower({column})", f"sqlrecord_lower({value})"
    if element.kind == "contains":
        return f"(instr({column}, {value}) > 0)"
    if element.kind == "startswith":
        return f"(substr({column}, 1, length({value})) = {value})"
    # From position len(column) - len(value) + 1: '' for an empty value, and
    # never equal to a value longer than the column.
    return f"(substr({column}, length({column}) - length({value}) + 1) = {value})"


@compiles(TextMatch, "mysql")
@compiles(TextMatch, "mariadb")
def _mysql(element: TextMatch, compiler: SQLCompiler, **kw: Any) -> str:
    column, value = _parts(element, compiler, **kw)
    if element.kind == "like":
        # Backslash is MySQL's LIKE escape even with ESCAPE '': double it so a
        # raw pattern's backslash stays a plain character.
        pattern = f"REPLACE({value}, '\\\\', '\\\\\\\\')"
        if element.case_sensitive:
            return f"(CONVERT({column} USING utf8mb4) COLLATE utf8mb4_bin LIKE {pattern})"
        return f"(LOWER({column}) LIKE LOWER({pattern}))"
    if not element.case_sensitive:
        column, value = f"LOWER({column})", f"LOWER({value})"
    # Binary comparison: exact bytes, no case folding, no trailing-space padding.
    column, value = f"CAST({column} AS BINARY)", f"CAST({value} AS BINARY)"
    if element.kind == "contains":
        return f"(LOCATE({value}, {column}) > 0)"
    if element.kind == "startswith":
        return f"(LOCATE({value}, {column}) = 1)"
    return f"(RIGHT({column}, LENGTH({value})) = {value})"


@lru_cache(maxsize=256)
def _like_regex(pattern: str, case_sensitive: bool) -> re.Pattern[str]:
    translated = "".join(
        ".*" if char == "%" else "." if char == "_" else re.escape(char) for char in pattern
    )
    return re.compile(translated, re.DOTALL if case_sensitive else re.DOTALL | re.IGNORECASE)


def _sqlite_like(value: str | None, pattern: str | None) -> int | None:
    if value is None or pattern is None:
        return None
    return int(_like_regex(pattern, True).fullmatch(value) is not None)


def _sqlite_ilike(value: str | None, pattern: str | None) -> int | None:
    if value is None or pattern is None:
        return None
    return int(_like_regex(pattern.lower(), False).fullmatch(value.lower()) is not None)


def _sqlite_lower(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


#: Functions sqlrecord registers on every SQLite connection: name → (arity, function).
SQLITE_FUNCTIONS = {
    "sqlrecord_lower": (1, _sqlite_lower),
    "sqlrecord_like": (2, _sqlite_like),
    "sqlrecord_ilike": (2, _sqlite_ilike),
}
