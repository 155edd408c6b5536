"""Column types that behave the same on SQLite, PostgreSQL and MySQL/MariaDB."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import DateTime
from sqlalchemy.dialects import mysql
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import TypeDecorator, TypeEngine

__all__ = ["UTCDateTime", "utc_now"]


class UTCDateTime(TypeDecorator[dt.datetime]):
    """A timestamp stored as UTC and always returned timezone-aware (UTC).

    Naive datetimes are taken to be UTC already; aware ones are converted. On
    MySQL/MariaDB the column keeps microseconds (``DATETIME(6)``).

    Example:
        >>> from sqlalchemy.orm import Mapped, mapped_column
        >>> column = mapped_column(UTCDateTime(), server_default=utc_now())
    """

    impl = DateTime
    cache_ok = True
    accepted_types = (dt.datetime,)

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name in ("mysql", "mariadb"):
            return dialect.type_descriptor(mysql.DATETIME(fsp=6))
        return dialect.type_descriptor(DateTime())

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if isinstance(value, str):  # SQLite expressions can hand back raw text
            value = dt.datetime.fromisoformat(value)
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)  # type: ignore[no-any-return]
        return value.astimezone(dt.UTC)  # type: ignore[no-any-return]


class utc_now(FunctionElement[dt.datetime]):
    """The current UTC time, computed by the database, with sub-second precision.

    Usable as ``server_default`` and ``onupdate``; renders per dialect.

    Example:
        >>> from sqlalchemy import select
        >>> from sqlalchemy.dialects import postgresql
        >>> print(select(utc_now()).compile(dialect=postgresql.dialect()))
        SELECT TIMEZONE('utc', CLOCK_TIMESTAMP()) AS utc_now_1
    """

    type = UTCDateTime()
    inherit_cache = True
    name = "utc_now"


@compiles(utc_now)
def _utc_now_default(element: utc_now, compiler: SQLCompiler, **kw: Any) -> str:
    return "CURRENT_TIMESTAMP"


@compiles(utc_now, "postgresql")
def _utc_now_postgresql(element: utc_now, compiler: SQLCompiler, **kw: Any) -> str:
    # clock_timestamp(), not now(): several writes in one transaction still
    # get distinct, increasing times.
    return "TIMEZONE('utc', CLOCK_TIMESTAMP())"


@compiles(utc_now, "sqlite")
def _utc_now_sqlite(element: utc_now, compiler: SQLCompiler, **kw: Any) -> str:
    # The text format SQLAlchemy binds datetimes in (six fractional digits):
    # stored values then compare correctly with bound ones, as strings.
    return "(STRFTIME('%Y-%m-%d %H:%M:%f', 'now') || '000')"


@compiles(utc_now, "mysql")
@compiles(utc_now, "mariadb")
def _utc_now_mysql(element: utc_now, compiler: SQLCompiler, **kw: Any) -> str:
    return "UTC_TIMESTAMP(6)"
