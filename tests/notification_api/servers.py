"""Real servers on loopback for the tests: the API under uvicorn, SMTP, a webhook receiver."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from starlette.types import Receive, Scope, Send


def loopback_socket() -> socket.socket:
    """A listening-ready TCP socket on a free loopback port (no port race: uvicorn takes it)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@asynccontextmanager
async def serve(app: Any, *, lifespan: bool = True) -> AsyncIterator[str]:
    """Run ``app`` under a real uvicorn server in this event loop; yield its base URL."""
    sock = loopback_socket()
    config = uvicorn.Config(
        app,
        log_level="warning",
        lifespan="on" if lifespan else "off",
        proxy_headers=False,
        access_log=False,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        for _ in range(500):
            if server.started or task.done():
                break
            await asyncio.sleep(0.01)
        if not server.started:
            await task  # raises the start-up error
            raise RuntimeError("uvicorn did not start")
        host, port = sock.getsockname()
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        await task
        sock.close()


# -- SMTP ----------------------------------------------------------------


@dataclass
class Mailbox:
    """What the SMTP server accepted; recipients at ``refuse.example`` are refused (550)."""

    port: int = 0
    messages: list[Envelope] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_RCPT(  # noqa: N802 - aiosmtpd's hook name
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if address.endswith("@refuse.example"):
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(  # noqa: N802
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        with self.lock:
            self.messages.append(envelope)
        return "250 Message accepted"

    def received_for(self, address: str) -> list[str]:
        with self.lock:
            return [
                envelope.content.decode() if isinstance(envelope.content, bytes) else ""
                for envelope in self.messages
                if address in envelope.rcpt_tos
            ]


def start_smtp(mailbox: Mailbox) -> Controller:
    controller = Controller(mailbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    return controller


# -- webhook receiver ----------------------------------------------------


@dataclass
class Receiver:
    """An ASGI app: ``POST /ok/...`` answers 200, ``POST /fail/...`` 500, and
    ``POST /slow-first/...`` acts on a delivery, then answers it only after a
    while (long enough for a test to kill the sender meanwhile). ``POST /hold/...``
    answers 200 once ``release`` is set (or after ``HOLD_SECONDS``), ``POST
    /slow/...`` answers 200 after ``SLOW_SECONDS`` (a receiver that keeps
    senders busy), and ``POST /redirect/...`` answers 302 to a private address. It records every
    call (and, in ``timeline``, each arrival and answer in order), and acts on
    each ``Idempotency-Key`` once, as a careful receiver does."""

    HOLD_SECONDS = 1.5  # below the suite's webhook timeout (2 s): slow, but it answers
    SLOW_SECONDS = 0.05

    calls: list[tuple[str, dict[str, str], bytes]] = field(default_factory=list)
    acted_on: dict[tuple[str, str], bytes] = field(default_factory=dict)
    timeline: list[tuple[str, str]] = field(default_factory=list)
    release: asyncio.Event = field(default_factory=asyncio.Event)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {key.decode(): value.decode() for key, value in scope["headers"]}
        path = scope["path"]
        self.calls.append((path, headers, body))
        self.timeline.append(("arrived", path))
        status = 500 if path.startswith("/fail") else 200
        if path.startswith("/hold"):
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.release.wait(), self.HOLD_SECONDS)
        if path.startswith("/slow/"):
            await asyncio.sleep(self.SLOW_SECONDS)
        if path.startswith("/redirect"):
            self.timeline.append(("answered", path))
            location = [(b"location", b"http://10.0.0.1/latest/meta-data/")]
            await send({"type": "http.response.start", "status": 302, "headers": location})
            await send({"type": "http.response.body", "body": b""})
            return
        # Keys are unique per sender, and each endpoint path is a sender's here.
        idempotency_key = (path, headers.get("idempotency-key", ""))
        if status == 200 and idempotency_key[1] and idempotency_key not in self.acted_on:
            self.acted_on[idempotency_key] = body
            if path.startswith("/slow-first"):
                await asyncio.sleep(3)
        self.timeline.append(("answered", path))
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    def acted_on_at(self, path: str) -> list[dict[str, Any]]:
        """The deliveries to ``path`` acted on, one per idempotency key."""
        return [json.loads(body) for (got, _), body in self.acted_on.items() if got == path]

    def received_on(self, path: str) -> list[tuple[dict[str, str], dict[str, Any]]]:
        return [(headers, json.loads(body)) for got, headers, body in self.calls if got == path]
