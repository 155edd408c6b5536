"""``EXPLAIN`` for a query's SELECT, in each database's own form, and its plan as text.

The SELECT is compiled inside the ``EXPLAIN`` construct as the statement itself (the
ORM applies its loader options), so its values stay bound parameters (never written
into the SQL text); its columns' types are then forgotten, since the rows that come
back are the plan's. PostgreSQL:
``EXPLAIN`` / ``EXPLAIN ANALYZE``; MariaDB: ``EXPLAIN`` / ``ANALYZE`` (MySQL:
``EXPLAIN ANALYZE``); SQLite: ``EXPLAIN QUERY PLAN`` (it has no ``ANALYZE`` form).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import ClauseElement, Executable

from ._internals import forget_result_columns
from .exceptions import InvalidValueError

__all__ = ["Explain", "check_analyze", "plan_text"]


class Explain(Executable, ClauseElement):
    """The plan of ``statement`` (``analyze``: run it and report what it did).

    Example:
        >>> print(Explain(User.filter_by(id=1).statement(), analyze=False))  # doctest: +ELLIPSIS
        EXPLAIN SELECT ... WHERE doc_users.id = :id_1
    """

    inherit_cache = False  # explained rarely: not worth a statement-cache entry

    def __init__(self, statement: Select[Any], *, analyze: bool) -> None:
        self.statement = statement
        self.analyze = analyze


def _plan_of(prefix: str, element: Explain, compiler: Any, **kw: Any) -> str:
    select_sql = str(compiler.process(element.statement, **kw))
    forget_result_columns(compiler)
    return prefix + select_sql


@compiles(Explain)
def _explain(element: Explain, compiler: Any, **kw: Any) -> str:
    prefix = "EXPLAIN ANALYZE " if element.analyze else "EXPLAIN "
    return _plan_of(prefix, element, compiler, **kw)


@compiles(Explain, "mysql")
@compiles(Explain, "mariadb")
def _explain_mysql(element: Explain, compiler: Any, **kw: Any) -> str:
    analyze = "ANALYZE " if getattr(compiler.dialect, "is_mariadb", False) else "EXPLAIN ANALYZE "
    return _plan_of(analyze if element.analyze else "EXPLAIN ", element, compiler, **kw)


@compiles(Explain, "sqlite")
def _explain_sqlite(element: Explain, compiler: Any, **kw: Any) -> str:
    return _plan_of("EXPLAIN QUERY PLAN ", element, compiler, **kw)


def check_analyze(analyze: Any, dialect: str) -> None:
    """Refuse an ``analyze`` that is no bool, or one SQLite cannot do.

    Example:
        >>> check_analyze(True, "sqlite")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        sqlrecord.exceptions.InvalidValueError: SQLite has no EXPLAIN ANALYZE: ...
    """
    if not isinstance(analyze, bool):
        raise InvalidValueError(f"explain(analyze=...) takes True or False, got {analyze!r}.")
    if analyze and dialect == "sqlite":
        raise InvalidValueError(
            "SQLite has no EXPLAIN ANALYZE: it cannot run a statement and report what it did. "
            "Call explain() without analyze=True for its query plan."
        )


def plan_text(dialect: str, keys: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """The plan rows as text: PostgreSQL's lines as they are, SQLite's plan as an
    indented tree, MariaDB's table as a header line and a line per row.

    Example:
        >>> print(plan_text("sqlite", ["id", "parent", "notused", "detail"],
        ...                 [(2, 0, 0, "SCAN t"), (5, 2, 0, "USE INDEX i")]))
        SCAN t
          USE INDEX i
        >>> print(plan_text("mysql", ["id", "table", "key"], [(1, "t", None)]))
        id | table | key
        1 | t | NULL
    """
    if dialect == "sqlite":
        depth: dict[Any, int] = {}
        lines = []
        for node, parent, _, detail in rows:
            depth[node] = depth.get(parent, -1) + 1
            lines.append("  " * depth[node] + str(detail))
        return "\n".join(lines)
    if len(keys) == 1:
        return "\n".join(str(row[0]) for row in rows)
    cells = [
        list(keys),
        *([("NULL" if value is None else str(value)) for value in row] for row in rows),
    ]
    return "\n".join(" | ".join(line) for line in cells)
