"""A skewed process clock for the service's code, to show that it reads the database's."""

from __future__ import annotations

import datetime as dt
import sys
import types

import pytest

from notification_api import worker


def skew_process_clock(monkeypatch: pytest.MonkeyPatch, offset: dt.timedelta) -> None:
    """From now on, the service's modules read the time ``offset`` away from the truth.

    Every ``notification_api`` module that imported ``datetime as dt`` gets a
    stand-in whose ``datetime.now`` (and ``utcnow``) is off by ``offset``: what a
    process on a host with a wrong clock would see. The database's clock is not
    touched (on SQLite it is the C library's, which Python's patching cannot reach).
    """

    class SkewedDateTime(dt.datetime):
        @classmethod
        def now(cls, tz: dt.tzinfo | None = None) -> dt.datetime:  # type: ignore[override]
            return dt.datetime.now(tz) + offset

        @classmethod
        def utcnow(cls) -> dt.datetime:  # type: ignore[override]
            return dt.datetime.now(dt.UTC).replace(tzinfo=None) + offset

    skewed = types.ModuleType("datetime")
    skewed.__dict__.update(vars(dt))
    skewed.datetime = SkewedDateTime  # type: ignore[attr-defined]
    patched = [
        name
        for name, module in list(sys.modules.items())
        if name.startswith("notification_api") and getattr(module, "dt", None) is dt
    ]
    for name in patched:
        monkeypatch.setattr(sys.modules[name], "dt", skewed)
    # The worker is among them, and sees the skew (else the tests prove nothing).
    assert "notification_api.worker" in patched
    seen = worker.dt.datetime.now(dt.UTC) - dt.datetime.now(dt.UTC)
    assert abs(seen - offset) < dt.timedelta(seconds=5), seen
