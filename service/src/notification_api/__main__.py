"""``python -m notification_api [serve|serve-api|work|migrate|cleanup|rotate-secret-keys]``.

``serve`` (the default) serves the API on 127.0.0.1:8000 and delivers in the
same process; ``serve-api`` serves the API only and ``work`` delivers only (run
any number of each on one database); ``migrate`` applies the migrations and
encrypts API secrets stored in plain text; ``cleanup`` deletes the
notifications past their retention; ``rotate-secret-keys`` re-encrypts every
API secret with the first key of ``SECRET_KEYS_ENCRYPTION_KEYS``.

``HOST`` and ``PORT`` move the server; everything else is in the settings
(``DB_URL``, ``JWT_SECRET``, ...).
"""

from __future__ import annotations

import asyncio
import os
import sys

import uvicorn
from pydantic import ValidationError

from .app import create_app
from .database import make_database
from .logs import configure_logging
from .migrate import upgrade_to_head
from .retention import delete_expired
from .secrets_at_rest import encrypt_stored_secrets, secret_box
from .settings import Settings
from .work import run_worker

__all__ = ["main"]


async def _migrate(settings: Settings, *, rotate: bool = False) -> int:
    database = make_database(settings)
    try:
        with database.as_default():
            await upgrade_to_head(database)
            return await encrypt_stored_secrets(database, secret_box(settings), rotate=rotate)
    finally:
        await database.dispose()


async def _cleanup(settings: Settings) -> int:
    database = make_database(settings)
    try:
        with database.as_default():
            return await delete_expired(database, settings)
    finally:
        await database.dispose()


def _serve(settings: Settings) -> None:
    uvicorn.run(
        create_app(settings),
        host=os.environ.get("HOST", "127.0.0.1"),
        port=int(os.environ.get("PORT", "8000")),
        # The client address is the whitelist's subject: trust no forwarding header.
        proxy_headers=False,
        access_log=False,  # the service writes its own JSON access log
    )


COMMANDS = ("serve", "serve-api", "work", "migrate", "cleanup", "rotate-secret-keys")
USAGE = f"usage: python -m notification_api [{'|'.join(COMMANDS)}]"
HELP = f"""{USAGE}

  serve               serve the API on HOST:PORT (127.0.0.1:8000 unless set) and deliver
                      notifications in the same process; the default
  serve-api           serve the API on HOST:PORT, without delivering (pair it with `work`)
  work                deliver notifications, without an HTTP server, until SIGTERM/SIGINT
  migrate             apply the migrations, encrypt API secrets stored in plain text
  cleanup             delete sent and failed notifications older than
                      NOTIFICATION_RETENTION_DAYS (the workers also do it as they run)
  rotate-secret-keys  re-encrypt every API secret with the first SECRET_KEYS_ENCRYPTION_KEYS

Run any number of serve-api and work processes on one database (DB_URL, and
DB_REPLICA_URLS for read replicas); run `migrate` once first and set
MIGRATE_ON_START=false for them. Settings come from the environment or ./.env
(DB_URL, JWT_SECRET, ...): see docs/notification-api.md."""


def _settings() -> Settings | None:
    """The settings, or ``None`` after printing why they were refused."""
    try:
        return Settings()
    except ValidationError as error:
        # One line per refused setting, without pydantic's URLs and traceback.
        problems = "\n".join(
            f"  {'.'.join(map(str, problem['loc'])) or 'settings'}: "
            f"{problem['msg'].removeprefix('Value error, ')}"
            for problem in error.errors()
        )
        print(f"notification_api: invalid settings:\n{problems}", file=sys.stderr)
        return None


def main(argv: list[str] | None = None) -> int:
    """Run the command in ``argv`` (``serve`` by default); return the exit status."""
    command = (argv if argv is not None else sys.argv[1:]) or ["serve"]
    if command in (["--help"], ["-h"]):
        print(HELP)  # before the settings are read: help works where they are invalid
        return 0
    if len(command) != 1 or command[0] not in COMMANDS:
        print(USAGE, file=sys.stderr)
        return 2
    configure_logging()
    settings = _settings()
    if settings is None:
        return 2
    match command:
        case ["migrate"]:
            asyncio.run(_migrate(settings))
        case ["rotate-secret-keys"]:
            written = asyncio.run(_migrate(settings, rotate=True))
            print(f"{written} API secret(s) encrypted with the first key of the setting.")
        case ["cleanup"]:
            deleted = asyncio.run(_cleanup(settings))
            print(f"{deleted} notification(s) past NOTIFICATION_RETENTION_DAYS deleted.")
        case ["work"]:
            asyncio.run(run_worker(settings))
        case ["serve-api"]:
            _serve(settings.model_copy(update={"worker_enabled": False}))
        case _:
            _serve(settings)
    return 0


if __name__ == "__main__":
    sys.exit(main())
