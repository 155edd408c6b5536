"""API secret keys are encrypted at rest (issue 16, finding 8), and the encryption key rotates.

The column ``api_keys.secret_key`` holds ``fernet:<token>``; the secret in
clear is shown once, at creation, and signs requests as before. Secrets left
in clear by an older version are encrypted by the start-up step, and
``python -m notification_api rotate-secret-keys`` moves every row to the
newest key of ``SECRET_KEYS_ENCRYPTION_KEYS``.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr, ValidationError
from sqlalchemy import text

from notification_api import Settings
from notification_api.secrets_at_rest import (
    SecretBox,
    SecretUnreadableError,
    encrypt_stored_secrets,
    secret_box,
)

from .api import create_key, register, signed
from .conftest import Service, reconfigured

PATH = "/api/services/notifications"
NOTE = {"channel": "email", "recipient": "kim@example.com", "subject": "Hi", "body": "Hello"}


async def _stored(service: Service, key_id: int) -> str:
    async with service.database.engine.connect() as connection:
        found = await connection.execute(
            text("SELECT secret_key FROM api_keys WHERE id = :id"), {"id": key_id}
        )
        return str(found.scalar_one())


@pytest.mark.e2e
async def test_the_stored_secret_is_not_the_secret(
    client: httpx.AsyncClient, service: Service
) -> None:
    auth = await register(client)
    key = await create_key(client, auth)
    stored = await _stored(service, key["id"])
    assert stored != key["secret_key"] and key["secret_key"] not in stored
    assert stored.startswith("fernet:")
    assert secret_box(service.settings).reveal(stored) == key["secret_key"]
    # The listing never shows it; signing with the secret in clear still verifies.
    listed = await client.get("/api/users/apikeys", headers=auth)
    assert listed.status_code == 200 and key["secret_key"] not in listed.text
    assert (await signed(client, "POST", PATH, key, json=NOTE)).status_code == 202


@pytest.mark.e2e
async def test_plain_secrets_of_an_older_version_are_encrypted(
    client: httpx.AsyncClient, service: Service
) -> None:
    key = await create_key(client, await register(client))
    async with service.database.engine.begin() as connection:  # as version 0001 stored it
        await connection.execute(
            text("UPDATE api_keys SET secret_key = :plain WHERE id = :id"),
            {"plain": key["secret_key"], "id": key["id"]},
        )
    # Plain secrets still verify until the start-up step has run (no outage on upgrade).
    assert (await signed(client, "GET", PATH, key)).status_code == 200
    box = secret_box(service.settings)
    assert await encrypt_stored_secrets(service.database, box, rotate=False) >= 1
    stored = await _stored(service, key["id"])
    assert stored.startswith("fernet:") and box.reveal(stored) == key["secret_key"]
    assert await encrypt_stored_secrets(service.database, box, rotate=False) == 0  # idempotent
    assert (await signed(client, "GET", PATH, key)).status_code == 200


@pytest.mark.e2e
async def test_rotation_moves_every_row_to_the_new_key(
    client: httpx.AsyncClient, service: Service
) -> None:
    key = await create_key(client, await register(client))
    old = service.settings.encryption_keys
    new = Fernet.generate_key().decode()
    both = SecretStr(",".join([new, *old]))
    rotated = SecretBox([new, *old])
    with reconfigured(service, secret_keys_encryption_keys=both):
        # Before re-encryption, the old key (second in the list) still decrypts.
        assert (await signed(client, "GET", PATH, key)).status_code == 200
        moved = await encrypt_stored_secrets(service.database, rotated, rotate=True)
        assert moved >= 1
        stored = await _stored(service, key["id"])
        assert SecretBox([new]).reveal(stored) == key["secret_key"]
        with pytest.raises(SecretUnreadableError):
            SecretBox(old).reveal(stored)
    with reconfigured(service, secret_keys_encryption_keys=SecretStr(new)):  # old key dropped
        assert (await signed(client, "GET", PATH, key)).status_code == 200
    # Back to the suite's key, for the tests and the worker that follow.
    await encrypt_stored_secrets(service.database, SecretBox([*old, new]), rotate=True)
    assert SecretBox(old).reveal(await _stored(service, key["id"])) == key["secret_key"]


@pytest.mark.e2e
async def test_an_unreadable_secret_is_a_refusal_not_a_crash(
    client: httpx.AsyncClient, service: Service
) -> None:
    key = await create_key(client, await register(client))
    stranger = SecretStr(Fernet.generate_key().decode())
    with reconfigured(service, secret_keys_encryption_keys=stranger):
        response = await signed(client, "GET", PATH, key)
    assert response.status_code == 401 and response.json()["code"] == "4010008"


def test_prod_requires_encryption_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SECRET_KEYS_ENCRYPTION_KEYS", raising=False)
    with pytest.raises(ValidationError, match="SECRET_KEYS_ENCRYPTION_KEYS is required"):
        Settings(api_env="prod", jwt_secret="j" * 40)
    not_a_key = "not-a-fernet-key-but-a-secret"
    with pytest.raises(ValidationError) as refused:
        Settings(api_env="prod", jwt_secret="j" * 40, secret_keys_encryption_keys=not_a_key)
    assert "Fernet keys" in str(refused.value) and not_a_key not in str(refused.value)


def test_local_generates_a_key_and_says_so(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv("SECRET_KEYS_ENCRYPTION_KEYS", raising=False)
    with caplog.at_level(logging.WARNING, logger="notification_api"):
        settings = Settings(api_env="local", jwt_secret="j" * 40)
    assert len(settings.encryption_keys) == 1
    assert "SECRET_KEYS_ENCRYPTION_KEYS is not set" in caplog.text
    assert settings.encryption_keys[0] not in caplog.text


def test_migrate_and_rotate_commands(tmp_path: Path) -> None:
    """The commands an operator runs: ``migrate`` encrypts plain rows, the rotation re-keys."""
    database = tmp_path / "rotate.db"
    first, second = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    env = {**os.environ, "DB_URL": f"sqlite+aiosqlite:///{database}", "API_ENV": "test"}

    def run(command: str, keys: str) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [sys.executable, "-m", "notification_api", command],
            env={**env, "SECRET_KEYS_ENCRYPTION_KEYS": keys},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        return done

    run("migrate", first)
    with sqlite3.connect(database) as connection:  # a row as an older version wrote it
        connection.execute(
            "INSERT INTO users (status, sns_type, marketing_agree, token_key) "
            "VALUES ('active', 'email', 0, 'k')"
        )
        connection.execute(
            "INSERT INTO api_keys (access_key, secret_key, status, user_id)"
            " VALUES ('plain-access', 'plain-secret-value', 'active', 1)"
        )
    connection.close()

    def stored() -> str:
        with sqlite3.connect(database) as reading:
            value = reading.execute("SELECT secret_key FROM api_keys").fetchone()[0]
        reading.close()
        return str(value)

    run("migrate", first)
    assert SecretBox([first]).reveal(stored()) == "plain-secret-value"
    assert "1 API secret" in run("rotate-secret-keys", f"{second},{first}").stdout
    assert SecretBox([second]).reveal(stored()) == "plain-secret-value"
    with pytest.raises(SecretUnreadableError):
        SecretBox([first]).reveal(stored())
