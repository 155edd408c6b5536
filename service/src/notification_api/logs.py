"""Logging set-up for running the service: plain lines, the access log as JSON."""

from __future__ import annotations

import logging

__all__ = ["configure_logging"]


def configure_logging(level: int = logging.INFO) -> None:
    """Send the service's loggers to stderr (idempotent).

    The access logger's messages are JSON documents already; they are printed
    as they are, one per line, for log shippers.

    Example:
        >>> configure_logging()
        >>> logging.getLogger("notification_api").level == logging.INFO
        True
    """
    plain = logging.getLogger("notification_api")
    access = logging.getLogger("notification_api.access")
    if not plain.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        plain.addHandler(handler)
    if not access.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
        access.addHandler(handler)
        access.propagate = False
    plain.setLevel(level)
    access.setLevel(level)
