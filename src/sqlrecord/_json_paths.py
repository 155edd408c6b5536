"""Values inside a JSON column (``data__ui__theme``), in the SQL of each database.

A :class:`JsonPart` is the value found by following object keys from a JSON
column, asked for in one of five forms (``want``):

* ``json``: the value as JSON (decoded into Python when read);
* ``kind``: one of :data:`JSON_KINDS` (``true`` and ``false`` apart), NULL when
  a key is missing or a step is not an object;
* ``text`` / ``binary_text``: a string value (NULL for anything else), the latter
  compared by code point with no trailing-space padding everywhere;
* ``number``: a number value (NULL for anything else).

Keys are data: PostgreSQL and SQLite receive each key as a bound parameter
(``doc -> $1``; SQLite's ``json_each`` with ``key = ?``, which also compares keys
decoded); MariaDB needs a path string, built here by JSON-quoting each key and
bound as a parameter. MariaDB compares path keys with the document's keys as
written, so the path is tried in both usual spellings: escaped as Python's
``json.dumps`` writes non-ASCII (SQLAlchemy's default), and as raw UTF-8.
Steps only go into objects: a key never indexes an array on any database.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Boolean, Numeric, String, bindparam, types
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql import ColumnElement
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import ClauseList

from ._internals import tables_from_attributes, traversed_attributes

__all__ = [
    "JSON_KINDS",
    "JsonArrayHas",
    "JsonContains",
    "JsonPart",
]

#: The kinds a JSON value has, the same names on every database.
JSON_KINDS = ("object", "array", "string", "number", "true", "false", "null")

_TYPES: dict[str, types.TypeEngine[Any]] = {
    "json": types.JSON(),
    "kind": String(),
    "text": String(),
    "binary_text": String(),
    "number": Numeric(),
}


def _key_binds(keys: Sequence[str]) -> ClauseList:
    return ClauseList(*(bindparam(None, key, type_=String(), unique=True) for key in keys))


def _mariadb_paths(keys: Sequence[str]) -> ClauseList:
    if not keys:
        return ClauseList()
    spellings = [
        "$" + "".join("." + json.dumps(key, ensure_ascii=ascii_only) for key in keys)
        for ascii_only in (True, False)
    ]
    if spellings[0] == spellings[1]:
        del spellings[1]  # the number of paths is part of the statement's shape
    return ClauseList(*(bindparam(None, path, type_=String(), unique=True) for path in spellings))


def _clause(value: Any) -> Any:
    return value.__clause_element__() if hasattr(value, "__clause_element__") else value


@tables_from_attributes("document")
@traversed_attributes(document="clause", keys="clause", paths="clause", want="string")
class JsonPart(ColumnElement[Any]):
    """The value at ``keys`` under the JSON ``document``, in the form ``want``.

    Example:
        >>> from sqlalchemy import JSON, column
        >>> part = JsonPart(column("data", JSON), ["ui", "theme"], "json")
        >>> print(part.compile(dialect=postgresql.dialect()))  # doctest: +ELLIPSIS
        ((CAST(data AS JSONB) -> CAST(%(param_1)s...)) -> CAST(%(param_2)s...))
    """

    __visit_name__ = "sqlrecord_json_part"
    inherit_cache = True

    def __init__(self, document: Any, keys: Sequence[str], want: str) -> None:
        self.document = _clause(document)
        self.keys = _key_binds(keys)
        self.paths = _mariadb_paths(keys)
        self.want = want
        self.type = _TYPES[want]


@traversed_attributes(node="clause", value="clause", kind="string")
class JsonArrayHas(ColumnElement[bool]):
    """Whether the JSON value ``node`` (a ``JsonPart`` of want ``json``) is an array
    with an element equal to a scalar: of kind ``string`` or ``number`` (then
    ``value`` is bound), or ``true``/``false``/``null``."""

    __visit_name__ = "sqlrecord_json_array_has"
    inherit_cache = True
    type = Boolean()

    def __init__(self, node: JsonPart, value: Any, kind: str) -> None:
        self.node = node
        bound_type = String() if kind == "string" else Numeric()
        self.value = bindparam(None, value, type_=bound_type, unique=True)
        self.kind = kind


@traversed_attributes(node="clause", document="clause", portable="clause")
class JsonContains(ColumnElement[bool]):
    """``node`` contains the sub-document: PostgreSQL's ``@>`` on ``jsonb``; elsewhere
    ``portable``, the same test spelled out key by key (built by the lookups)."""

    __visit_name__ = "sqlrecord_json_contains"
    inherit_cache = True
    type = Boolean()

    def __init__(self, node: JsonPart, candidate: Any, portable: ColumnElement[bool]) -> None:
        self.node = node
        self.document = bindparam(None, json.dumps(candidate), type_=String(), unique=True)
        self.portable = portable


# -- PostgreSQL: jsonb, keys with -> ------------------------------------------------


def _is_jsonb(column_type: types.TypeEngine[Any]) -> bool:
    while isinstance(column_type, types.TypeDecorator):
        column_type = column_type.impl_instance
    return isinstance(column_type, postgresql.JSONB)


def _pg_node(element: JsonPart, compiler: SQLCompiler, **kw: Any) -> str:
    node = compiler.process(element.document, **kw)
    if not _is_jsonb(element.document.type):
        node = f"CAST({node} AS JSONB)"  # json has no equality or containment; jsonb has
    for key in element.keys.clauses:
        # `-> text` reads an object's key only (an array gives NULL), as elsewhere.
        node = f"({node} -> CAST({compiler.process(key, **kw)} AS TEXT))"
    return node


def _pg_form(node: str, want: str) -> str:
    if want == "json":
        return node
    if want == "kind":
        return (
            f"CASE jsonb_typeof({node}) WHEN 'boolean' THEN ({node} #>> '{{}}') "
            f"ELSE jsonb_typeof({node}) END"
        )
    if want in ("text", "binary_text"):
        text = f"CASE WHEN jsonb_typeof({node}) = 'string' THEN ({node} #>> '{{}}') END"
        return f'({text}) COLLATE "C"' if want == "binary_text" else f"({text})"
    return (
        f"CASE WHEN jsonb_typeof({node}) = 'number' THEN CAST(({node} #>> '{{}}') AS NUMERIC) END"
    )


@compiles(JsonPart, "postgresql")
def _pg_part(element: JsonPart, compiler: SQLCompiler, **kw: Any) -> str:
    return _pg_form(_pg_node(element, compiler, **kw), element.want)


def _scalar_match(form: Any, kind: str, value: str) -> str:
    """SQL: the JSON value whose forms ``form(want)`` gives equals a scalar of ``kind``."""
    if kind == "string":
        return f"{form('binary_text')} = {value}"
    if kind == "number":
        return f"{form('number')} = {value}"
    return f"{form('kind')} = '{kind}'"  # kind is one of true/false/null, never user text


@compiles(JsonArrayHas, "postgresql")
def _pg_array_has(element: JsonArrayHas, compiler: SQLCompiler, **kw: Any) -> str:
    node = _pg_node(element.node, compiler, **kw)
    value = compiler.process(element.value, **kw)
    match = _scalar_match(lambda want: _pg_form("e.value", want), element.kind, value)
    return (
        f"(jsonb_typeof({node}) = 'array' AND EXISTS (SELECT 1 FROM jsonb_array_elements("
        f"CASE WHEN jsonb_typeof({node}) = 'array' THEN {node} END) AS e WHERE {match}))"
    )


@compiles(JsonContains, "postgresql")
def _pg_contains(element: JsonContains, compiler: SQLCompiler, **kw: Any) -> str:
    node = _pg_node(element.node, compiler, **kw)
    return f"({node} @> CAST({compiler.process(element.document, **kw)} AS JSONB))"


@compiles(JsonContains)
def _portable_contains(element: JsonContains, compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.process(element.portable, **kw)


# -- SQLite: json_each, one key per step -------------------------------------------

_SQLITE_KIND = (
    "CASE {type} WHEN 'text' THEN 'string' WHEN 'integer' THEN 'number' "
    "WHEN 'real' THEN 'number' ELSE {type} END"
)


def _sqlite_form(type_: str, atom: str, value: str, want: str) -> str:
    if want == "json":
        return (
            f"CASE {type_} WHEN 'object' THEN {value} WHEN 'array' THEN {value} "
            f"WHEN 'true' THEN 'true' WHEN 'false' THEN 'false' WHEN 'null' THEN 'null' "
            f"ELSE json_quote({atom}) END"
        )
    if want == "kind":
        return _SQLITE_KIND.format(type=type_)
    if want in ("text", "binary_text"):
        return f"CASE WHEN {type_} = 'text' THEN {atom} END"
    return f"CASE WHEN {type_} IN ('integer', 'real') THEN {atom} END"


def _sqlite_steps(element: JsonPart, compiler: SQLCompiler, **kw: Any) -> tuple[str, list[str]]:
    """The container the last key is read from, and the keys' parameters."""
    container = compiler.process(element.document, **kw)
    keys = [compiler.process(key, **kw) for key in element.keys.clauses]
    for depth, key in enumerate(keys[:-1]):
        step = f"j{depth}"
        container = (
            f"(SELECT CASE WHEN {step}.type = 'object' THEN {step}.value END "
            f"FROM json_each({container}) AS {step} WHERE {step}.key = {key})"
        )
    return container, keys


def _sqlite_node(element: JsonPart, compiler: SQLCompiler, want: str, **kw: Any) -> str:
    container, keys = _sqlite_steps(element, compiler, **kw)
    if not keys:
        if want == "json":
            return container
        return _sqlite_form(f"json_type({container})", f"json_extract({container}, '$')", "", want)
    last = "j_last"
    form = _sqlite_form(f"{last}.type", f"{last}.atom", f"{last}.value", want)
    return f"(SELECT {form} FROM json_each({container}) AS {last} WHERE {last}.key = {keys[-1]})"


@compiles(JsonPart, "sqlite")
def _sqlite_part(element: JsonPart, compiler: SQLCompiler, **kw: Any) -> str:
    return _sqlite_node(element, compiler, element.want, **kw)


@compiles(JsonArrayHas, "sqlite")
def _sqlite_array_has(element: JsonArrayHas, compiler: SQLCompiler, **kw: Any) -> str:
    node = _sqlite_node(element.node, compiler, "json", **kw)
    value = compiler.process(element.value, **kw)
    match = _scalar_match(
        lambda want: _sqlite_form("e.type", "e.atom", "e.value", want), element.kind, value
    )
    return (
        f"EXISTS (SELECT 1 FROM json_each(CASE WHEN json_type({node}) = 'array' "
        f"THEN {node} END) AS e WHERE {match})"
    )


# -- MariaDB: JSON_EXTRACT with a quoted path ----------------------------------------


def _mariadb_node(element: JsonPart, compiler: SQLCompiler, **kw: Any) -> str:
    document = compiler.process(element.document, **kw)
    extracts = [
        f"JSON_EXTRACT({document}, {compiler.process(path, **kw)})"
        for path in element.paths.clauses
    ]
    if not extracts:
        return document
    return extracts[0] if len(extracts) == 1 else f"COALESCE({', '.join(extracts)})"


def _mariadb_form(node: str, want: str) -> str:
    if want == "json":
        return node
    if want == "kind":
        return (
            f"CASE JSON_TYPE({node}) WHEN 'OBJECT' THEN 'object' WHEN 'ARRAY' THEN 'array' "
            f"WHEN 'STRING' THEN 'string' WHEN 'INTEGER' THEN 'number' "
            f"WHEN 'UNSIGNED INTEGER' THEN 'number' WHEN 'DOUBLE' THEN 'number' "
            f"WHEN 'BOOLEAN' THEN LOWER(TRIM({node})) WHEN 'NULL' THEN 'null' END"
        )
    if want in ("text", "binary_text"):
        text = f"CASE WHEN JSON_TYPE({node}) = 'STRING' THEN JSON_UNQUOTE({node}) END"
        if want == "text":
            return f"({text})"
        # By code point, and 'a' != 'a ' (the _bin collations pad with spaces).
        return f"(CONVERT({text} USING utf8mb4) COLLATE utf8mb4_nopad_bin)"
    return (
        f"CASE WHEN JSON_TYPE({node}) IN ('INTEGER', 'UNSIGNED INTEGER', 'DOUBLE') "
        f"THEN CAST({node} AS DECIMAL(65, 30)) END"
    )


@compiles(JsonPart, "mysql")
@compiles(JsonPart, "mariadb")
def _mariadb_part(element: JsonPart, compiler: SQLCompiler, **kw: Any) -> str:
    return _mariadb_form(_mariadb_node(element, compiler, **kw), element.want)


@compiles(JsonArrayHas, "mysql")
@compiles(JsonArrayHas, "mariadb")
def _mariadb_array_has(element: JsonArrayHas, compiler: SQLCompiler, **kw: Any) -> str:
    node = _mariadb_node(element.node, compiler, **kw)
    value = compiler.process(element.value, **kw)
    match = _scalar_match(lambda want: _mariadb_form("e.v", want), element.kind, value)
    return (
        f"(JSON_TYPE({node}) = 'ARRAY' AND EXISTS (SELECT 1 FROM JSON_TABLE({node}, '$[*]' "
        f"COLUMNS (v JSON PATH '$')) AS e WHERE {match}))"
    )
