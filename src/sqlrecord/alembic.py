"""Alembic autogenerate support for sqlrecord's column types and defaults.

Left alone, autogenerate writes ``utc_now()`` as the SQL text of whichever
database the migration was generated against (SQLite's ``STRFTIME(...)`` in a
migration that must also run on PostgreSQL) and refers to ``UTCDateTime``
without importing it. Plug :func:`render_item` into ``env.py``::

    from sqlrecord.alembic import render_item
    context.configure(..., render_item=render_item)
"""

from __future__ import annotations

from typing import Any, Literal

from sqlalchemy.schema import DefaultClause

from .types import UTCDateTime, utc_now

__all__ = ["render_item"]


def render_item(type_: str, obj: Any, autogen_context: Any) -> str | Literal[False]:
    """Render sqlrecord's types and server defaults portably; ``False`` leaves others to Alembic.

    Example:
        >>> from types import SimpleNamespace
        >>> context = SimpleNamespace(imports=set())
        >>> render_item("type", UTCDateTime(), context), sorted(context.imports)
        ('sqlrecord.types.UTCDateTime()', ['import sqlrecord.types'])
        >>> render_item("server_default", DefaultClause(utc_now()), context)
        'sqlrecord.types.utc_now()'
        >>> render_item("type", object(), context)
        False
    """
    if type_ == "type" and isinstance(obj, UTCDateTime):
        autogen_context.imports.add("import sqlrecord.types")
        return "sqlrecord.types.UTCDateTime()"
    if (
        type_ == "server_default"
        and isinstance(obj, DefaultClause)
        and isinstance(obj.arg, utc_now)
    ):
        autogen_context.imports.add("import sqlrecord.types")
        return "sqlrecord.types.utc_now()"
    return False
