"""The asyncio driver of a URL that names none.

``Database("postgresql://app@db/app")`` is what a ``DATABASE_URL`` from a hosting
platform or a ``.env`` file looks like. SQLAlchemy reads such a URL as its synchronous
default driver (mysqlclient, psycopg2 on 2.0), which an async engine refuses, so
sqlrecord puts in the driver docs/drivers.md recommends, among those installed. A URL
that names its driver is left as it is: that choice is the caller's.
"""

from __future__ import annotations

from importlib.util import find_spec

from sqlalchemy.engine import URL, make_url

from .exceptions import ConfigurationError

__all__ = ["with_async_driver"]

#: (driver, the module it imports, the extra that installs it), in order of preference.
_Drivers = tuple[tuple[str, str, str], ...]
_POSTGRES: _Drivers = (("asyncpg", "asyncpg", "postgres"), ("psycopg", "psycopg", "psycopg"))
_MYSQL: _Drivers = (("asyncmy", "asyncmy", "asyncmy"), ("aiomysql", "aiomysql", "mysql"))

#: backend as a URL may spell it -> (SQLAlchemy's name of the backend, its drivers).
_DRIVERS: dict[str, tuple[str, _Drivers]] = {
    "postgresql": ("postgresql", _POSTGRES),
    "postgres": ("postgresql", _POSTGRES),  # as hosting platforms give it
    "mysql": ("mysql", _MYSQL),
    "mariadb": ("mariadb", _MYSQL),
    "sqlite": ("sqlite", (("aiosqlite", "aiosqlite", ""),)),
}


def with_async_driver(url: str | URL, *, like: URL | None = None) -> URL:
    """``url`` parsed; when it names no driver, with the asyncio driver sqlrecord
    recommends for its database among those installed: asyncpg, then psycopg for
    PostgreSQL (``postgres://`` too); asyncmy, then aiomysql for MySQL and MariaDB;
    aiosqlite for SQLite. ``like``: a URL of the same database (a replica's primary)
    whose driver a URL naming none takes instead, so that the two never differ.

    Raises:
        ConfigurationError: the URL names no driver and none of its database's
            asyncio drivers is installed (the message names the extra to install).

    Example:
        >>> with_async_driver("sqlite:///app.db").drivername
        'sqlite+aiosqlite'
        >>> with_async_driver("postgres://app@db/app").get_backend_name()
        'postgresql'
        >>> with_async_driver("mysql+aiomysql://app@db/app").drivername  # named: kept
        'mysql+aiomysql'
        >>> primary = with_async_driver("postgresql+psycopg://app@db/app")
        >>> with_async_driver("postgresql://app@replica/app", like=primary).drivername
        'postgresql+psycopg'
    """
    parsed = make_url(url)
    if "+" in parsed.drivername or parsed.drivername not in _DRIVERS:
        return parsed
    backend, drivers = _DRIVERS[parsed.drivername]
    if like is not None and like.get_backend_name() == backend:
        return parsed.set(drivername=like.drivername)
    for driver, module, _extra in drivers:
        if find_spec(module) is not None:
            return parsed.set(drivername=f"{backend}+{driver}")
    extras = " or ".join(
        f"sqlrecord[{extra}]" if extra else module for _driver, module, extra in drivers
    )
    named = " or ".join(f"{backend}+{driver}://" for driver, _module, _extra in drivers)
    raise ConfigurationError(
        f"The URL {parsed.render_as_string(hide_password=True)!r} names no driver, and no "
        f"asyncio driver for {backend} is installed: install {extras}, or name an "
        f"installed asyncio driver in the URL ({named})."
    )
