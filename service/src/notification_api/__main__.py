"""``python -m notification_api [serve|migrate|rotate-secret-keys]``.

``serve`` (the default) serves on 127.0.0.1:8000; ``migrate`` applies the
migrations and encrypts API secrets stored in plain text; ``rotate-secret-keys``
re-encrypts every API secret with the first key of ``SECRET_KEYS_ENCRYPTION_KEYS``.

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
from .secrets_at_rest import encrypt_stored_secrets, secret_box
from .settings import Settings

__all__ = ["main"]


async def _migrate(settings: Settings, *, rotate: bool = False) -> int:
    database = make_database(settings)
    try:
        with database.as_default():
            await upgrade_to_head(database)
            return await encrypt_stored_secrets(database, secret_box(settings), rotate=rotate)
    finally:
        await database.dispose()


USAGE = "usage: python -m notification_api [serve|migrate|rotate-secret-keys]"
HELP = f"""{USAGE}

  serve               serve the API on HOST:PORT (127.0.0.1:8000 unless set); the default
  migrate             apply the migrations, encrypt API secrets stored in plain text
  rotate-secret-keys  re-encrypt every API secret with the first SECRET_KEYS_ENCRYPTION_KEYS

Settings come from the environment or ./.env (DB_URL, JWT_SECRET, ...): see
docs/notification-api.md."""


def main(argv: list[str] | None = None) -> int:
    """Run the command in ``argv`` (``serve`` by default); return the exit status."""
    command = (argv if argv is not None else sys.argv[1:]) or ["serve"]
    if command in (["--help"], ["-h"]):
        print(HELP)  # before the settings are read: help works where they are invalid
        return 0
    configure_logging()
    try:
        settings = Settings()
    except ValidationError as error:
        # One line per refused setting, without pydantic's URLs and traceback.
        problems = "\n".join(
            f"  {'.'.join(map(str, problem['loc'])) or 'settings'}: "
            f"{problem['msg'].removeprefix('Value error, ')}"
            for problem in error.errors()
        )
        print(f"notification_api: invalid settings:\n{problems}", file=sys.stderr)
        return 2
    if command == ["migrate"]:
        asyncio.run(_migrate(settings))
        return 0
    if command == ["rotate-secret-keys"]:
        written = asyncio.run(_migrate(settings, rotate=True))
        print(f"{written} API secret(s) encrypted with the first key of the setting.")
        return 0
    if command != ["serve"]:
        print(USAGE, file=sys.stderr)
        return 2
    uvicorn.run(
        create_app(settings),
        host=os.environ.get("HOST", "127.0.0.1"),
        port=int(os.environ.get("PORT", "8000")),
        # The client address is the whitelist's subject: trust no forwarding header.
        proxy_headers=False,
        access_log=False,  # the service writes its own JSON access log
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
