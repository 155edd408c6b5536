"""Settings from the environment, and ``python -m notification_api migrate``."""

from __future__ import annotations

import logging
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from cryptography.fernet import Fernet
from pydantic import ValidationError

from notification_api import Settings
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
    for word in ("serve", "migrate", "rotate-secret-keys", "HOST:PORT", "DB_URL"):
        assert word in done.stdout
