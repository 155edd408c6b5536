"""Read replicas without servers: the settings a Database refuses, the token a client
sends (hostile input), and a database without replicas left as it was.

The routing itself runs on real replicas in ``tests/test_replicas.py``.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects import mysql, postgresql
from sqlalchemy.engine import make_url

from sqlrecord import Database, Replicas
from sqlrecord._read_after import decode_token, encode_token
from sqlrecord._read_only import refuse_read_only
from sqlrecord._replica_positions import positions_for
from sqlrecord._replicas import _read_only_connect_args
from sqlrecord.exceptions import ConfigurationError, ReadOnlyDatabaseError

from .models import User


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"urls": "postgresql+asyncpg://r1/app"}, "a list of replica URLs"),
        ({"urls": []}, "a list of replica URLs"),
        ({"urls": ["postgresql+asyncpg://r1/app"], "policy": "fastest"}, "'round_robin'"),
        ({"urls": ["postgresql+asyncpg://r1/app"], "weights": [1, 2]}, "one positive number"),
        ({"urls": ["postgresql+asyncpg://r1/app"], "weights": [0]}, "one positive number"),
        ({"urls": ["postgresql+asyncpg://r1/app"], "max_lag": -1}, "seconds >= 0"),
        ({"urls": ["postgresql+asyncpg://r1/app"], "wait": "soon"}, "seconds >= 0"),
    ],
)
def test_replica_settings_that_cannot_work_are_refused(
    options: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigurationError, match=message):
        Replicas(**options)


def test_a_replica_on_another_database_kind_is_refused_without_its_password() -> None:
    with pytest.raises(ConfigurationError, match="not a postgresql URL") as refused:
        Database(
            "postgresql+asyncpg://app@10.0.0.1/app",
            replicas=["mysql+aiomysql://app:secret-pw@10.0.0.2/app"],
            default=False,
        )
    assert "secret-pw" not in str(refused.value)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "postgresql+asyncpg://app@r1/app",
            {"server_settings": {"default_transaction_read_only": "on"}, "timeout": 1.5},
        ),
        (
            "postgresql+psycopg://app@r1/app",
            {"options": "-c default_transaction_read_only=on", "connect_timeout": 2},
        ),
        (
            "mysql+aiomysql://app@r1/app",
            {"init_command": "SET SESSION TRANSACTION READ ONLY", "connect_timeout": 1.5},
        ),
        (
            "mysql+asyncmy://app@r1/app",
            {"init_command": "SET SESSION TRANSACTION READ ONLY", "connect_timeout": 1.5},
        ),
    ],
)
def test_replica_connections_are_read_only_and_bounded(url: str, expected: Any) -> None:
    assert _read_only_connect_args(make_url(url), 1.5) == expected
    database = Database(
        url.replace("@r1", "@primary"),
        replicas=Replicas([url], connect_timeout=1.5),
        default=False,
    )  # nothing connects until used
    assert [usage.url for usage in database.replica_stats().replicas] == [url]


@pytest.mark.parametrize(
    "dialect", [postgresql.dialect(), mysql.dialect(is_mariadb=True)], ids=["pg", "mariadb"]
)
def test_a_clients_token_is_honoured_only_as_signed(dialect: Any) -> None:
    positions = positions_for(dialect)
    assert positions is not None
    position = 0x16B374D848 if dialect.name == "postgresql" else {0: 42, 1: 7}
    token = encode_token(positions, position, b"secret")
    assert decode_token(positions, token, b"secret") == position
    body, _, signature = token.partition(".")
    hostile = [
        "",
        ".",
        token + "x",
        f"{body}.{signature[::-1]}",
        f"{body[:-2]}AA.{signature}",
        encode_token(positions, position, b"another secret"),
        "a" * 10_000,
        "\x00\xff.\x00",
        "cG9zdGdyZXNxbCAxLzE.",  # unsigned
    ]
    for forged in hostile:
        assert decode_token(positions, forged, b"secret") is None, forged


async def test_without_replicas_nothing_changes(db: Database) -> None:
    await User.create(email="kim@example.com")
    with db.primary():
        assert await User.count() == 1
    with db.replica():
        assert await User.count() == 1
    with db.read_after("forged.token"):
        assert await User.count() == 1
    assert await db.read_token() is None
    stats = db.replica_stats()
    assert (stats.replica_reads, stats.primary_reads, stats.replicas) == (0, 0, [])


class _DriverError(Exception):
    def __init__(self, *args: Any, sqlstate: str | None = None) -> None:
        super().__init__(*args)
        self.sqlstate = sqlstate


@pytest.mark.parametrize(
    ("orig", "refused"),
    [
        (_DriverError("cannot execute INSERT", sqlstate="25006"), True),
        (_DriverError(1792, "Cannot execute statement in a READ ONLY transaction"), True),
        (_DriverError(1290, "running with the --read-only option"), True),
        (_DriverError(1290, "running with the --secure-file-priv option"), False),
        (_DriverError("duplicate", sqlstate="23505"), False),
    ],
)
def test_what_a_read_only_server_says_is_recognised(orig: Exception, refused: bool) -> None:
    error = sa_exc.OperationalError("INSERT ...", {}, orig)
    if refused:
        with pytest.raises(ReadOnlyDatabaseError, match="read-only server"):
            refuse_read_only(error, "User")
    else:
        refuse_read_only(error, "User")  # not a read-only refusal: left to the caller


async def _sqlite_pair(tmp_path: Path, **options: Any) -> Database:
    """A SQLite "primary" with two "replicas" that are the same file: the routing, with
    no lag to wait for (SQLite has no positions: the fixed window applies)."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'primary.db'}"
    database = Database(url, replicas=Replicas([url, url], **options), default=False)
    await database.create_all(User.metadata)
    return database


async def test_weights_share_the_reads_in_turn(tmp_path: Path) -> None:
    database = await _sqlite_pair(tmp_path, weights=[3, 1])
    try:
        with database.as_default():
            for _ in range(40):
                await User.count()
        assert [usage.reads for usage in database.replica_stats().replicas] == [30, 10]
    finally:
        await database.dispose()


async def test_where_positions_cannot_be_compared_a_write_keeps_reads_on_the_primary(
    tmp_path: Path,
) -> None:
    database = await _sqlite_pair(tmp_path, window=0.3)
    try:
        with database.as_default():
            await User.count()  # no write yet: a replica
            await User.create(email="kim@example.com")
            assert await User.count() == 1  # within the window: the primary
            assert await database.read_token() is None  # nothing a client could carry
            await asyncio.sleep(0.35)
            assert await User.count() == 1  # past it: a replica again
        stats = database.replica_stats()
        assert stats.replica_reads == 2
        assert stats.primary_reasons == {"window": 1}
    finally:
        await database.dispose()


async def test_a_random_policy_reaches_every_replica(tmp_path: Path) -> None:
    database = await _sqlite_pair(tmp_path, policy="random")
    try:
        with database.as_default():
            for _ in range(60):
                await User.count()
        reads = [usage.reads for usage in database.replica_stats().replicas]
        assert sum(reads) == 60 and min(reads) > 0
    finally:
        await database.dispose()
