"""End to end: request bodies past ``MAX_BODY_BYTES`` get 413 before they are read (finding 8).

The oversized requests go over a raw socket, so that the test controls what is
sent: the server must answer while the client has sent only the headers, or
only one byte past the limit, of a body it never finishes. On the code before
the limit, the server waits for the rest and these tests time out.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx
import pytest

if TYPE_CHECKING:
    from notification_api.body_limit import BodyLimitStats

from .api import assert_error
from .conftest import Service

pytestmark = pytest.mark.e2e

LOGIN = "/api/auth/login/email"
# A bound on waiting for an answer (no assertion of speed): on the unlimited code
# the server waits for a body that never comes, and the test fails here.
ANSWER_WITHIN = 20.0


def _limit(service: Service) -> int:
    # The default where the setting does not exist yet (the code before it).
    return int(getattr(service.settings, "max_body_bytes", 1_048_576))


def _stats(service: Service) -> BodyLimitStats:
    stats: BodyLimitStats = service.app.state.body_limit
    return stats


def _counts(service: Service) -> tuple[int, int]:
    """(refused, most bytes read) so far; zeros where the app has no limit (the old code)."""
    stats = getattr(service.app.state, "body_limit", None)
    return (stats.refused, stats.most_bytes_read) if stats is not None else (0, 0)


def _login_body(size: int) -> bytes:
    """A well-formed log-in body of exactly ``size`` bytes (padded with JSON whitespace)."""
    core = json.dumps({"email": "nobody@example.com", "pw": "wrong-password"}).encode()
    assert size >= len(core)
    return core[:-1] + b" " * (size - len(core)) + b"}"


async def _raw_exchange(service: Service, head: bytes, body_parts: list[bytes]) -> httpx.Response:
    """Send ``head`` and ``body_parts`` (never finishing the body), then read the answer."""
    url = urlsplit(service.base_url)
    assert url.hostname is not None and url.port is not None
    reader, writer = await asyncio.open_connection(url.hostname, url.port)
    try:
        writer.write(head)
        for part in body_parts:
            writer.write(part)
            await writer.drain()
        await writer.drain()
        # The 413 says Connection: close, so the answer ends where the stream does.
        raw = await asyncio.wait_for(reader.read(), ANSWER_WITHIN)
    finally:
        writer.close()
    status_line, _, rest = raw.partition(b"\r\n")
    header_block, _, content = rest.partition(b"\r\n\r\n")
    headers = [line.split(b":", 1) for line in header_block.split(b"\r\n")]
    return httpx.Response(
        int(status_line.split()[1]),
        headers=[(name.strip(), value.strip()) for name, value in headers],
        content=content,
    )


def _head(**headers: Any) -> bytes:
    lines = [f"POST {LOGIN} HTTP/1.1", "Host: 127.0.0.1", "Content-Type: application/json"]
    lines += [f"{name.replace('_', '-')}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def test_declared_oversize_body_is_refused_before_it_is_sent(service: Service) -> None:
    refused_before, most_read_before = _counts(service)
    # 300 MiB announced, not a byte of it sent: the server must answer anyway.
    answer = await _raw_exchange(service, _head(Content_Length=300 * 2**20), [])
    body = assert_error(answer, 413, "4130001")
    assert body["msg"] == "BODY_TOO_LARGE"
    assert answer.headers["connection"] == "close"
    assert _counts(service) == (refused_before + 1, most_read_before)  # no body byte was read


async def test_chunked_oversize_body_is_refused_one_byte_past_the_limit(service: Service) -> None:
    limit = _limit(service)
    refused_before, _ = _counts(service)
    body = _login_body(limit + 1)
    # Chunks of 64 KiB, and no closing zero-size chunk: the client is "still sending".
    chunks = [body[offset : offset + 65_536] for offset in range(0, len(body), 65_536)]
    framed = [f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n" for chunk in chunks]
    answer = await _raw_exchange(service, _head(Transfer_Encoding="chunked"), framed)
    assert_error(answer, 413, "4130001")
    stats = _stats(service)
    assert stats.refused == refused_before + 1
    assert stats.most_bytes_read <= limit  # what reached the app never passed the limit


async def _chunked(body: bytes) -> AsyncIterator[bytes]:
    for offset in range(0, len(body), 100_000):
        yield body[offset : offset + 100_000]


async def test_body_at_the_limit_is_read(client: httpx.AsyncClient, service: Service) -> None:
    limit = _limit(service)
    body = _login_body(limit)
    headers = {"Content-Type": "application/json"}
    declared = await client.post(LOGIN, content=body, headers=headers)
    assert_error(declared, 401, "4010014")  # read, parsed, and answered by the route
    streamed = await client.post(LOGIN, content=_chunked(body), headers=headers)
    assert_error(streamed, 401, "4010014")
    assert _stats(service).most_bytes_read == limit
