"""Logging set-up for running the service: plain lines, the access log as JSON."""

from __future__ import annotations

import logging

__all__ = ["configure_logging"]


def configure_logging(level: int = logging.INFO) -> None:
    """Send the service's loggers, and sqlrecord's, to stderr (idempotent).

    sqlrecord's error handlers log what the client is not told (the library's
    message for a 4xx, the traceback of a 500) to ``sqlrecord.fastapi``. The
    access logger's messages are JSON documents already; they are printed as
    they are, one per line, for log shippers.

    Example:
        >>> configure_logging()
        >>> logging.getLogger("notification_api").level == logging.INFO
        True
        >>> logging.getLogger("sqlrecord.fastapi").level == logging.INFO
        True
    """
    access = logging.getLogger("notification_api.access")
    for name in ("notification_api", "sqlrecord.fastapi"):
        plain = logging.getLogger(name)
        if not plain.handlers:
            handler = logging.StreamHandler()
            handler.setFormatter(
                logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
            )
            plain.addHandler(handler)
        plain.setLevel(level)
    if not access.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
        access.addHandler(handler)
        access.propagate = False
    access.setLevel(level)
