"""Settings from the environment, and ``python -m notification_api migrate``."""

from __future__ import annotations

import logging
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from cryptography.fernet import Fernet
from pydantic import ValidationError

from notification_api import Settings
from notification_api.database import make_database
from notification_api.migrate import alembic_config


def test_prod_requires_a_jwt_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("JWT_SECRET", raising=False)
    with pytest.raises(ValidationError, match="JWT_SECRET is required"):
        Settings(api_env="prod")


def test_local_generates_a_secret_and_says_so(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv("JWT_SECRET", raising=False)
    with caplog.at_level(logging.WARNING, logger="notification_api"):
        first, second = Settings(api_env="local"), Settings(api_env="local")
    assert first.jwt_key and first.jwt_key != second.jwt_key
    assert "JWT_SECRET is not set" in caplog.text
    assert first.jwt_key not in caplog.text


def test_environment_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("API_ENV", "prod")
    monkeypatch.setenv("JWT_SECRET", "from-the-environment-and-32-bytes-long")
    monkeypatch.setenv("SECRET_KEYS_ENCRYPTION_KEYS", Fernet.generate_key().decode())
    monkeypatch.setenv("MAX_API_KEYS", "5")
    monkeypatch.setenv("DB_URL", "postgresql+asyncpg://u@127.0.0.1/x")
    settings = Settings()
    assert (settings.api_env, settings.max_api_keys, settings.max_whitelists) == ("prod", 5, 10)
    assert settings.jwt_key == "from-the-environment-and-32-bytes-long"
    assert "from-the-environment" not in repr(settings)  # a SecretStr


def test_migrate_command_builds_the_schema(tmp_path: Path) -> None:
    database = tmp_path / "migrated.db"
    env = {**os.environ, "DB_URL": f"sqlite+aiosqlite:///{database}", "API_ENV": "test"}
    for _ in range(2):  # idempotent
        done = subprocess.run(
            [sys.executable, "-m", "notification_api", "migrate"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stderr
    with sqlite3.connect(database) as connection:
        tables = dict(connection.execute("SELECT name, sql FROM sqlite_master"))
        version = connection.execute("SELECT version_num FROM alembic_version").fetchone()
    connection.close()
    service_tables = {"users", "api_keys", "api_whitelists", "notifications", "request_nonces"}
    assert service_tables <= tables.keys()
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert version == (head,)
    # Ids are never reused: every table has AUTOINCREMENT (issue 16, finding 3).
    assert all("AUTOINCREMENT" in tables[name] for name in service_tables)


def test_unknown_command_is_refused() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "notification_api", "frobnicate"],
        env={**os.environ, "API_ENV": "test"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2 and "usage" in done.stderr


def test_help_names_the_commands_and_the_address_settings() -> None:
    # Settings that would stop the service do not stop --help.
    done = subprocess.run(
        [sys.executable, "-m", "notification_api", "--help"],
        env={**os.environ, "API_ENV": "prod", "JWT_SECRET": ""},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: python -m notification_api")
    for word in ("serve", "serve-api", "work", "migrate", "cleanup", "rotate-secret-keys"):
        assert f"  {word} " in done.stdout
    for word in ("HOST:PORT", "DB_URL", "DB_REPLICA_URLS", "NOTIFICATION_RETENTION_DAYS"):
        assert word in done.stdout


PRIMARY = "postgresql+asyncpg://napi:primary-pw@10.0.0.1:5432/napi"


def test_replica_urls_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DB_URL", PRIMARY)
    monkeypatch.setenv(
        "DB_REPLICA_URLS",
        " postgresql+asyncpg://napi:replica-pw@10.0.0.2/napi,postgresql+psycopg://napi@10.0.0.3/napi,",
    )
    settings = Settings(api_env="test", jwt_secret="s" * 32)
    assert settings.replica_urls == [
        "postgresql+asyncpg://napi:replica-pw@10.0.0.2/napi",
        "postgresql+psycopg://napi@10.0.0.3/napi",
    ]
    assert "replica-pw" not in repr(settings)  # secret, like REDIS_URL
    monkeypatch.delenv("DB_REPLICA_URLS")
    assert Settings(api_env="test", jwt_secret="s" * 32).replica_urls == []  # the default


@pytest.mark.parametrize(
    ("replicas", "expected"),
    [
        (
            "mysql+aiomysql://napi:replica-pw@10.0.0.2/napi",
            "DB_REPLICA_URLS entry 1 (mysql+aiomysql://napi:***@10.0.0.2/napi) is a mysql "
            "database, but DB_URL is postgresql",
        ),
        ("postgresql+asyncpg://10.0.0.2/napi,replica-pw", "DB_REPLICA_URLS entry 2 is not a "),
        ("postgresql://napi:replica-pw@10.0.0.2:port/napi", "DB_REPLICA_URLS entry 1 is not a "),
    ],
)
def test_a_replica_that_cannot_be_one_is_refused_without_its_password(
    replicas: str, expected: str
) -> None:
    with pytest.raises(ValidationError) as refused:
        Settings(api_env="test", jwt_secret="s" * 32, db_url=PRIMARY, db_replica_urls=replicas)
    assert expected in str(refused.value)
    assert "replica-pw" not in str(refused.value)


def test_make_database_takes_the_replicas_with_the_primarys_settings() -> None:
    settings = Settings(
        api_env="test",
        jwt_secret="s" * 32,
        db_url=PRIMARY,  # nothing connects: engines connect on first use
        db_replica_urls="postgresql+asyncpg://napi:replica-pw@10.0.0.2/napi",
    )
    database = make_database(settings)
    assert database.url.host == "10.0.0.1"
    assert database._replica_set is not None
    [replica] = database._replica_set.replicas
    assert replica.url.host == "10.0.0.2"
    # Statement parameters stay out of the replicas' logs and errors too.
    assert replica.engine.sync_engine.hide_parameters
    # Every process derives the same secret: a read-after token or a cursor that one
    # API process gave is honoured by the others.
    assert make_database(settings).cursor_secret == database.cursor_secret


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_work_runs_until_a_signal_then_exits_cleanly(
    tmp_path: Path, stop_signal: signal.Signals
) -> None:
    log_path = tmp_path / "work.log"
    env = {
        **os.environ,
        "API_ENV": "test",
        "DB_URL": f"sqlite+aiosqlite:///{tmp_path / 'work.db'}",
        "WORKER_POLL_SECONDS": "0.1",
    }
    with log_path.open("w") as log:
        worker = subprocess.Popen(
            [sys.executable, "-m", "notification_api", "work"], env=env, stderr=log, stdout=log
        )
        try:
            deadline = time.monotonic() + 30
            while "started" not in log_path.read_text():
                assert worker.poll() is None, log_path.read_text()
                assert time.monotonic() < deadline, log_path.read_text()
                time.sleep(0.05)
            worker.send_signal(stop_signal)
            assert worker.wait(timeout=30) == 0, log_path.read_text()
        finally:
            if worker.poll() is None:
                worker.kill()
                worker.wait()
    logged = log_path.read_text()
    assert "Traceback" not in logged, logged
    assert "started" in logged and logged.rstrip().endswith("stopped"), logged
    with sqlite3.connect(tmp_path / "work.db") as connection:  # MIGRATE_ON_START applied
        assert connection.execute("SELECT count(*) FROM notifications").fetchone() == (0,)
    connection.close()
