"""Read-your-writes: what the running context has written, and where its reads may go.

A *context* is a request (``sqlrecord.fastapi``'s middleware starts one per request)
or, outside requests, a task. When a unit of work commits a write on the primary, the
context is marked; its next read that could go to a replica first asks the primary
for its position (at or past that commit) and then takes only a replica that has
replayed that far (``_replicas.py``). A client carries the position to its next
request in a signed token (:func:`encode_token`): a cookie and a response header, which
``sqlrecord.fastapi`` sets and reads. ``db.primary()`` and ``db.replica()`` force a
block's reads to one side.

Whether a session wrote is recorded by the listeners of :func:`tracking_session_class`
in the session's ``info``, and noted by :func:`note_committed_writes` when sqlrecord
ends the session (``_unit.close_session``), in the task that ran it.
"""

from __future__ import annotations

import base64
import contextvars
import hashlib
import hmac
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState, Session

if TYPE_CHECKING:
    from ._replica_positions import Position, Positions

# The writes are kept per database, under its replica set (``_replicas.ReplicaSet``),
# which this module only stores.
ReplicaSet = object

__all__ = [
    "Written",
    "context_writes",
    "decode_token",
    "encode_token",
    "forced_route",
    "new_context",
    "note_committed_writes",
    "route_reads",
    "tracking_session_class",
]

_WROTE = "sqlrecord_wrote"
_COMMITTED = "sqlrecord_committed_writes"


@dataclass
class Written:
    """What a context wrote in one database: the position its reads must see."""

    #: The primary's position after the context's last write, once asked.
    position: Position | None = None
    #: A write committed since ``position`` was asked (ask again before the next read).
    pending: bool = False
    #: When the last write committed (``time.monotonic()``), for the fixed window.
    at: float = -float("inf")
    #: Whether this context wrote (not just received a token): its response sends one.
    wrote: bool = False


class _ContextWrites(dict[ReplicaSet, Written]):
    """The writes of one context, per database (its replica set)."""


_writes: contextvars.ContextVar[_ContextWrites | None] = contextvars.ContextVar(
    "sqlrecord_context_writes", default=None
)
_route: contextvars.ContextVar[Literal["primary", "replica"] | None] = contextvars.ContextVar(
    "sqlrecord_read_route", default=None
)


def context_writes(*, create: bool = False) -> _ContextWrites | None:
    """The running context's writes (made, and kept for the rest of the task, with
    ``create``)."""
    found = _writes.get()
    if found is None and create:
        found = _ContextWrites()
        _writes.set(found)
    return found


@contextmanager
def new_context() -> Iterator[_ContextWrites]:
    """A fresh context of writes for the block (one request)."""
    fresh = _ContextWrites()
    token = _writes.set(fresh)
    try:
        yield fresh
    finally:
        _writes.reset(token)


@contextmanager
def route_reads(where: Literal["primary", "replica"]) -> Iterator[None]:
    """Send the block's reads to the primary, or to a replica whatever was written."""
    token = _route.set(where)
    try:
        yield
    finally:
        _route.reset(token)


def forced_route() -> Literal["primary", "replica"] | None:
    """The route a ``db.primary()``/``db.replica()`` block forces, if any."""
    return _route.get()


def note_write(replicas: ReplicaSet) -> None:
    """A unit of work of ``replicas``' database committed a write in this context."""
    writes = context_writes(create=True)
    assert writes is not None
    written = writes.setdefault(replicas, Written())
    written.pending = True
    written.wrote = True
    written.at = time.monotonic()


def note_committed_writes(session_info: dict[Any, Any]) -> None:
    """Note the writes a session committed (its listeners left them in its ``info``)."""
    replicas = session_info.pop(_COMMITTED, None)
    session_info.pop(_WROTE, None)
    if replicas is not None:
        note_write(replicas)


def tracking_session_class(base: type[Session], replicas: ReplicaSet) -> type[Session]:
    """A subclass of ``base`` whose sessions record in ``info`` that they committed a
    write (a flush, or an INSERT, UPDATE or DELETE statement) to ``replicas``' primary.

    Example:
        >>> issubclass(tracking_session_class(Session, object()), Session)  # type: ignore[arg-type]
        True
    """
    tracking = type("TrackingSession", (base,), {})

    def wrote(session: Session, *_: Any) -> None:
        session.info[_WROTE] = True

    def statement_wrote(state: ORMExecuteState) -> None:
        if state.is_insert or state.is_update or state.is_delete:
            state.session.info[_WROTE] = True

    def committed(session: Session) -> None:
        if session.info.pop(_WROTE, False):
            session.info[_COMMITTED] = replicas

    event.listen(tracking, "after_flush", wrote)
    event.listen(tracking, "do_orm_execute", statement_wrote)
    event.listen(tracking, "after_commit", committed)
    return tracking


def merge(positions: Positions, first: Position | None, second: Position) -> Position:
    """The later of two positions (per domain on MariaDB)."""
    if first is None:
        return second
    if isinstance(first, int) and isinstance(second, int):
        return max(first, second)
    if not isinstance(first, int) and not isinstance(second, int):
        merged = dict(first)
        for domain, sequence in second.items():
            merged[domain] = max(merged.get(domain, -1), sequence)
        return merged
    return second if positions.reached(second, first) else first


# -- the token a client carries -------------------------------------------------


def encode_token(positions: Positions, position: Position, secret: bytes) -> str:
    """``position`` as a signed token, safe in a cookie or a header:
    ``<base64 of "kind position">.<signature>``.

    Example:
        >>> from sqlalchemy.dialects import postgresql
        >>> from sqlrecord._replica_positions import positions_for
        >>> token = encode_token(positions_for(postgresql.dialect()), 0x16B374D848, b"k")
        >>> base64.urlsafe_b64decode(token.split(".")[0] + "==")
        b'postgresql 16/B374D848'
    """
    body = base64.urlsafe_b64encode(f"{positions.kind} {positions.encode(position)}".encode())
    text = body.decode().rstrip("=")
    return f"{text}.{_signature(text, secret)}"


def decode_token(positions: Positions, token: str, secret: bytes) -> Position | None:
    """The position in a token from :func:`encode_token`; ``None`` for anything else
    (a client's token is hostile input: unsigned, altered or foreign ones are ignored).

    Example:
        >>> from sqlalchemy.dialects import postgresql
        >>> from sqlrecord._replica_positions import positions_for
        >>> pg = positions_for(postgresql.dialect())
        >>> decode_token(pg, encode_token(pg, 42, b"k"), b"k")
        42
        >>> decode_token(pg, encode_token(pg, 42, b"k"), b"other") is None
        True
    """
    if not isinstance(token, str) or len(token) > 512:
        return None
    text, _, signature = token.partition(".")
    if not hmac.compare_digest(signature.encode(), _signature(text, secret).encode()):
        return None
    try:
        body = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()
    except ValueError:
        return None
    kind, _, position = body.partition(" ")
    return positions.decode(position) if kind == positions.kind else None


def _signature(body: str, secret: bytes) -> str:
    digest = hmac.new(secret, b"sqlrecord-read-after:" + body.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:18]).decode()
