"""``python -m benchmarks.service.server --app sqlrecord|plain --port N``: serve one app.

A process of its own, so that the app under test has an interpreter and a core to
itself and the load generator's work is not counted as the server's. Both apps read
their settings from the environment (``DB_URL``, ``JWT_SECRET``, ``WORKER_ENABLED``
...), exactly as ``python -m notification_api serve`` does, and are served the same
way: uvicorn, one worker, loopback, no proxy headers, keep-alive 75 s, no uvicorn access log (the
service's own JSON access-log middleware runs in both apps; the runner leaves its
logger below INFO, so the line is built but not written).

``--profile FILE`` samples the server's main thread with pyinstrument while it runs
and saves the session (pyinstrument's JSON) to FILE at shutdown (see :mod:`.profile`).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import uvicorn
from fastapi import FastAPI

from notification_api.settings import Settings

__all__ = ["APPS", "KEEP_ALIVE_SECONDS", "build_app", "main"]

#: How long an idle keep-alive connection stays open (both apps).
KEEP_ALIVE_SECONDS = 75

#: The two contestants: the Notification API itself, and the hand-written app.
APPS = ("sqlrecord", "plain")


def build_app(name: str, settings: Settings) -> FastAPI:
    """The app called ``name``, for ``settings``."""
    if name == "sqlrecord":
        from notification_api.app import create_app

        return create_app(settings)
    from .plain_app import create_plain_app

    return create_plain_app(settings)


def main() -> None:
    """Serve the chosen app until SIGINT/SIGTERM."""
    parser = argparse.ArgumentParser(prog="benchmarks.service.server", description=__doc__)
    parser.add_argument("--app", choices=APPS, required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--profile", type=Path, help="save a pyinstrument session here")
    args = parser.parse_args()
    app = build_app(args.app, Settings())
    profiler = None
    if args.profile:
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.0005, async_mode="disabled")
        profiler.start()
    try:
        uvicorn.run(
            app,
            host="127.0.0.1",
            port=args.port,
            proxy_headers=False,
            access_log=False,
            log_level="warning",
            # uvicorn's 5 s default races a client reusing a connection on a loaded
            # server (a reset, counted as an error); load generators keep them open.
            timeout_keep_alive=KEEP_ALIVE_SECONDS,
        )
    finally:
        if profiler is not None:
            profiler.stop()
            profiler.last_session.save(str(args.profile))


if __name__ == "__main__":
    main()
