"""The benchmark's databases: where they live, a fresh schema in them, and the seed rows.

Each server gets a database of its own, ``napi_bench``: never the test databases the
suites drop and refill, nor the ``bench`` database of the side-by-side harness. The
schema is built by the Notification API's own Alembic migration, so the service and
the hand-written app run on identical tables; the seed rows are written with SQLAlchemy
Core, through neither app: the user with its token key, the API key with its secret
encrypted under the run's ``SECRET_KEYS_ENCRYPTION_KEYS`` (as the service stores it).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography.fernet import Fernet
from sqlalchemy import insert, make_url, text
from sqlalchemy.ext.asyncio import create_async_engine

from notification_api.database import make_database
from notification_api.migrate import upgrade_to_head
from notification_api.models import ServiceBase, new_token_key
from notification_api.passwords import hash_password
from notification_api.secrets_at_rest import secret_box
from notification_api.settings import Settings
from notification_api.tokens import create_token

__all__ = [
    "DATABASE_NAME",
    "SQLITE_PATH",
    "URLS",
    "Seed",
    "ensure_database",
    "reset_schema",
    "seed",
]

_ROOT = Path(__file__).resolve().parents[2]
DATABASE_NAME = "napi_bench"
SQLITE_PATH = _ROOT / "var" / "bench" / "service" / f"{DATABASE_NAME}.sqlite"
URLS = {
    "sqlite": f"sqlite+aiosqlite:///{SQLITE_PATH}",
    "postgres": f"postgresql+asyncpg://postgres@127.0.0.1:5432/{DATABASE_NAME}",
    "mysql": f"mysql+aiomysql://root@127.0.0.1:3306/{DATABASE_NAME}?charset=utf8mb4",
}
# Databases other suites own: a reset here would destroy their data.
_NOT_OURS = frozenset({"test", "lead_test", "napi_test", "bench"})
#: The address the load generator connects from; whitelisted on the seeded key.
CLIENT_IP = "127.0.0.1"


@dataclass(frozen=True)
class Seed:
    """What a client needs to call both endpoints: a token and a key pair."""

    user_id: int
    token: str
    access_key: str
    secret_key: str

    def credentials(self) -> dict[str, str]:
        """What a client signs and sends with: ``token``, ``access_key``, ``secret_key``."""
        return {"token": self.token, "access_key": self.access_key, "secret_key": self.secret_key}


def _checked(url: str) -> str:
    name = make_url(url).database or ""
    if name in _NOT_OURS:
        raise SystemExit(f"Refusing to touch the database {name!r}: it belongs to other suites.")
    return url


async def ensure_database(db: str) -> None:
    """Create ``napi_bench`` (or the SQLite file's folder) when missing."""
    url = make_url(_checked(URLS[db]))
    if db == "sqlite":
        SQLITE_PATH.parent.mkdir(parents=True, exist_ok=True)
        return
    # Connect to the server's maintenance database to create ours.
    admin = url.set(database="postgres" if db == "postgres" else None)
    engine = create_async_engine(admin, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as connection:
            if db == "postgres":
                found = await connection.scalar(
                    text("SELECT 1 FROM pg_database WHERE datname = :name"),
                    {"name": DATABASE_NAME},
                )
                if not found:
                    await connection.execute(text(f'CREATE DATABASE "{DATABASE_NAME}"'))
            else:
                await connection.execute(
                    text(f"CREATE DATABASE IF NOT EXISTS {DATABASE_NAME} CHARACTER SET utf8mb4")
                )
    finally:
        await engine.dispose()


def _settings(url: str, jwt_secret: str = "x" * 32, encryption_key: str | None = None) -> Settings:
    return Settings(
        api_env="test",
        db_url=url,
        jwt_secret=jwt_secret,
        # Any key for the migration's settings (unset, the service warns that it made one).
        secret_keys_encryption_keys=encryption_key or Fernet.generate_key().decode(),
        _env_file=None,
    )


def _remove_sqlite_files() -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{SQLITE_PATH}{suffix}").unlink(missing_ok=True)


async def reset_schema(db: str) -> None:
    """Drop the service's tables and build them again with the service's migration."""
    url = _checked(URLS[db])
    if db == "sqlite":
        _remove_sqlite_files()
    else:
        engine = create_async_engine(url)
        try:
            async with engine.begin() as connection:
                await connection.run_sync(ServiceBase.metadata.drop_all)
                await connection.execute(text("DROP TABLE IF EXISTS alembic_version"))
        finally:
            await engine.dispose()
    database = make_database(_settings(url))
    try:
        await upgrade_to_head(database)
    finally:
        await database.dispose()


async def seed(db: str, jwt_secret: str, encryption_key: str) -> Seed:
    """One active user (argon2 password, a token key), a JWT for it with that key, and an
    API key (its secret encrypted with ``encryption_key``, a Fernet key) that whitelists
    loopback. The servers must get the same ``JWT_SECRET`` and
    ``SECRET_KEYS_ENCRYPTION_KEYS``."""
    tables = ServiceBase.metadata.tables
    settings = _settings(URLS[db], jwt_secret, encryption_key)
    access_key, secret_key = secrets.token_hex(16), secrets.token_urlsafe(30)
    token_key = new_token_key()
    engine = create_async_engine(_checked(URLS[db]))
    try:
        async with engine.begin() as connection:
            user = await connection.execute(
                insert(tables["users"]).values(
                    status="active",
                    email="bench@example.com",
                    pw=await hash_password("bench-password"),
                    name="Bench User",
                    phone_number="010-0000-0000",
                    profile_img=None,
                    sns_type="email",
                    marketing_agree=False,
                    token_key=token_key,
                )
            )
            user_id = int(user.inserted_primary_key[0])
            key = await connection.execute(
                insert(tables["api_keys"]).values(
                    access_key=access_key,
                    secret_key=secret_box(settings).seal(secret_key),
                    user_memo="bench",
                    status="active",
                    user_id=user_id,
                )
            )
            await connection.execute(
                insert(tables["api_whitelists"]).values(
                    ip_addr=CLIENT_IP, api_key_id=int(key.inserted_primary_key[0])
                )
            )
    finally:
        await engine.dispose()
    return Seed(user_id, create_token(settings, user_id, token_key), access_key, secret_key)
