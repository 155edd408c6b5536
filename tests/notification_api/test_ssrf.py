"""Webhook SSRF and mail header injection (issue 16, findings 4 and 8).

Every packet stays on loopback. The receiver the service may reach listens on
127.0.0.1 (the suite's ``WEBHOOK_ALLOWED_NETWORKS`` is ``127.0.0.1/32``); a
*trap* listens on 127.0.0.2, an address the policy refuses, and counts the
connections it gets: none, in every test. Host names are resolved by a test
resolver installed on the running service's webhook channel (the DNS of these
tests), so no query leaves the machine either.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any

import httpx
import pytest

from notification_api.channels.webhook import NOT_ALLOWED, UNREACHABLE, WebhookChannel
from notification_api.guarded_network import BlockedAddressError, GuardedBackend, system_resolver
from notification_api.netguard import (
    AddressPolicy,
    WebhookURLError,
    check_webhook_url,
)

from .api import assert_error, create_key, register, signed
from .conftest import Service, eventually
from .servers import Receiver, free_port

pytestmark = pytest.mark.e2e
PATH = "/api/services/notifications"

# Each is refused when queued, with the suite's allow-list (127.0.0.1/32) in force.
REFUSED_URLS = [
    # the examples
    "http://169.254.169.254/latest/meta-data/",
    "http://10.0.0.1/",
    "http://[::1]:6379/",
    "http://localhost:5432/",
    "http://2130706433/",
    "http://0x7f000001/",
    "http://user:pass@10.0.0.1/",
    # other spellings of loopback and of "this host"
    "http://127.0.0.2/",
    "http://127.1/",
    "http://127.0.1/",
    "http://0177.0.0.1/",
    "http://017700000001/",
    "http://0x7f.1/",
    "http://0x7f.0x0.0x0.0x2/",
    "http://127.0.0.2./",
    "http://0/",
    "http://0.0.0.0:8000/",
    "http://LOCALHOST/",
    "http://localhost./",
    "http://api.localhost/",
    "http://[::]/",
    "http://[0:0:0:0:0:0:0:1]/",
    # IPv4 inside IPv6
    "http://[::ffff:127.0.0.2]/",
    "http://[::ffff:7f00:2]/",
    "http://[::ffff:169.254.169.254]/",
    "http://[::ffff:a00:1]/",
    "http://[::10.0.0.1]/",
    "http://[64:ff9b::10.0.0.1]/",
    "http://[64:ff9b::a9fe:a9fe]/",
    "http://[64:ff9b:1::a00:1]/",
    "http://[2002:a00:1::1]/",
    "http://[2002:7f00:1::]/",
    "http://[2001:0:4136:e378:8000:63bf:f5ff:fffe]/",  # Teredo
    # private, shared, link-local, multicast, reserved, documentation (IPv4)
    "http://10.255.255.255/",
    "http://172.16.0.1/",
    "http://172.31.255.254/",
    "http://192.168.0.1/",
    "http://100.64.0.1/",
    "http://169.254.0.1/",
    "http://224.0.0.1/",
    "http://239.255.255.250:1900/",
    "http://240.0.0.1/",
    "http://255.255.255.255/",
    "http://192.0.0.1/",
    "http://192.0.2.1/",
    "http://198.18.0.1/",
    "http://198.51.100.1/",
    "http://203.0.113.1/",
    # ... and IPv6
    "http://[fe80::1]/",
    "http://[fc00::1]/",
    "http://[fd12:3456::1]/",
    "http://[fec0::1]/",
    "http://[ff02::1]/",
    "http://[2001:db8::1]/",
    "http://[100::1]/",
    # forms a parser may read differently, and internal names
    "http://%31%32%37.0.0.2/",
    "http://[fe80::1%25eth0]/",
    "http://example.com\\@10.0.0.1/",
    "http://user@example.com/",
    "http://:@example.com/",
    "http://256.0.0.1/",
    "http://1.2.3.4.5/",
    "http://redis:6379/",
    "http://metadata.google.internal/",
    "http://printer.local/",
    "http://router.lan/",
    "http://example.com:0/",
    "http://example.com:65536/",
]


def test_webhook_url_forms_are_refused_by_the_policy() -> None:
    policy = AddressPolicy.from_cidrs(["127.0.0.1/32"])
    for url in REFUSED_URLS:
        with pytest.raises(WebhookURLError):
            check_webhook_url(url, policy)
    # With no allow-list, 127.0.0.1 goes too; with one, exactly what it lists is allowed.
    with pytest.raises(WebhookURLError):
        check_webhook_url("http://127.0.0.1:9/", AddressPolicy())
    assert check_webhook_url("http://127.0.0.1:9/", policy).port == 9
    assert check_webhook_url("http://[::ffff:127.0.0.1]/", policy).host == "::ffff:7f00:1"
    with_v6 = AddressPolicy.from_cidrs(["127.0.0.1/32", "::1/128"])
    assert check_webhook_url("http://localhost:9/", with_v6).host == "localhost"
    for url in (
        "https://hooks.example.com/in?x=1",
        "http://93.184.215.14/",
        "http://[2606:4700::1111]:8443/",
        "http://[64:ff9b::5db8:d70e]/",  # NAT64 of a public address
        "http://xn--bcher-kva.example/",
    ):
        check_webhook_url(url, AddressPolicy())


def test_the_address_table() -> None:
    policy = AddressPolicy()
    refused = [
        "0.0.0.1", "10.1.2.3", "100.127.0.1", "127.255.255.255", "169.254.169.254",
        "172.20.0.1", "192.0.0.170", "192.88.99.1", "192.168.255.255", "198.19.0.1",
        "224.0.0.251", "250.1.2.3", "::", "::1", "::ffff:10.0.0.1", "64:ff9b::7f00:1",
        "2002:c0a8:101::1", "2001::1", "2001:db8:1::1", "3fff::1", "fc00::", "fe80::1",
        "ff0e::1", "5f00::1", "100::1",
    ]  # fmt: skip
    allowed = ["1.1.1.1", "8.8.4.4", "2606:4700::1111", "64:ff9b::808:808", "2002:808:808::1"]
    assert [a for a in refused if policy.allows(ipaddress.ip_address(a))] == []
    assert [a for a in allowed if not policy.allows(ipaddress.ip_address(a))] == []


# -- end to end ---------------------------------------------------------------


class Trap:
    """A TCP listener on 127.0.0.2 that counts connections: it must get none."""

    def __init__(self) -> None:
        self.connections = 0
        self.server: asyncio.Server | None = None
        self.port = 0

    async def start(self, port: int = 0) -> Trap:
        async def count(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self.connections += 1
            writer.close()

        self.server = await asyncio.start_server(count, "127.0.0.2", port)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def close(self) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()


class FakeDNS:
    """The tests' resolver: names it knows; anything else as the system would (literals)."""

    def __init__(self) -> None:
        self.answers: dict[str, list[list[str]]] = {}
        self.asked: list[str] = []

    def answer(self, name: str, *answers: list[str]) -> None:
        """``name`` resolves to ``answers[0]``, then ``answers[1]`` ... (the last one stays)."""
        self.answers[name] = list(answers)

    async def __call__(self, host: str, port: int) -> Sequence[str]:
        self.asked.append(host)
        if host in self.answers:
            queue = self.answers[host]
            return queue.pop(0) if len(queue) > 1 else queue[0]
        ipaddress.ip_address(host)  # a name nobody told us about: fail the test
        return await system_resolver(host, port)


@pytest.fixture
def dns(service: Service) -> Iterator[FakeDNS]:
    channel: WebhookChannel = service.app.state.worker.channels["webhook"]
    fake = FakeDNS()
    before = channel.backend.resolver
    channel.backend.resolver = fake
    yield fake
    channel.backend.resolver = before


@pytest.fixture
async def trap() -> AsyncIterator[Trap]:
    listener = await Trap().start()
    yield listener
    await listener.close()
    assert listener.connections == 0


async def _key(client: httpx.AsyncClient) -> dict[str, Any]:
    return await create_key(client, await register(client))


async def _queue(client: httpx.AsyncClient, key: dict[str, Any], url: str) -> int:
    note = {"channel": "webhook", "recipient": url, "subject": "s", "body": "b"}
    response = await signed(client, "POST", PATH, key, json=note)
    assert response.status_code == 202, response.text
    return int(response.json()["id"])


async def _settled(client: httpx.AsyncClient, key: dict[str, Any], notification_id: int) -> Any:
    async def check() -> Any:
        body = (await signed(client, "GET", f"{PATH}/{notification_id}", key)).json()
        return body if body["status"] != "queued" else None

    return await eventually(check)


async def test_private_webhook_urls_are_refused_when_queued(
    client: httpx.AsyncClient, service: Service, trap: Trap
) -> None:
    key = await _key(client)
    for url in REFUSED_URLS:
        note = {"channel": "webhook", "recipient": url, "subject": "s", "body": "b"}
        response = await signed(client, "POST", PATH, key, json=note)
        # Malformed for the schema (422), or well-formed and refused by the policy (403).
        if response.status_code == 422:
            assert "recipient" in assert_error(response, 422, "4220001")["detail"], url
        else:
            assert "webhooks" in assert_error(response, 403, "4030002")["detail"], url
    listed = (await signed(client, "GET", PATH, key)).json()
    assert listed["total"] == 0  # nothing was queued
    print(f"\n{len(REFUSED_URLS)} webhook URL forms refused on {service.backend}")


async def test_a_name_resolving_to_a_refused_address_is_not_connected_to(
    client: httpx.AsyncClient,
    service: Service,
    receiver: tuple[Receiver, str],
    dns: FakeDNS,
    trap: Trap,
) -> None:
    app, receiver_url = receiver
    receiver_port = int(receiver_url.rsplit(":", 1)[1])
    key = await _key(client)
    # Queued as a public-looking name; the DNS says loopback outside the allow-list.
    dns.answer("private.hooks.test", ["127.0.0.2"])
    # One good address is not enough: every address must be allowed.
    dns.answer("mixed.hooks.test", ["127.0.0.1", "127.0.0.2"])
    dns.answer("nowhere.hooks.test", [])
    urls = [
        f"http://private.hooks.test:{trap.port}/ok/private",
        f"http://mixed.hooks.test:{receiver_port}/ok/mixed-{service.backend}",
        f"http://nowhere.hooks.test:{receiver_port}/ok/nowhere-{service.backend}",
    ]
    ids = [await _queue(client, key, url) for url in urls]
    for notification_id in ids:
        failed = await _settled(client, key, notification_id)
        assert (failed["status"], failed["last_error"]) == ("failed", NOT_ALLOWED), failed
        assert failed["attempts"] == service.settings.max_attempts
    assert app.received_on(f"/ok/mixed-{service.backend}") == []
    assert app.received_on(f"/ok/nowhere-{service.backend}") == []
    assert trap.connections == 0


async def test_localhost_from_the_system_resolver_is_refused_before_connecting(
    trap: Trap,
) -> None:
    # The real resolver (/etc/hosts), an empty allow-list: localhost is loopback.
    backend = GuardedBackend(AddressPolicy())
    with pytest.raises(BlockedAddressError):
        await backend.connect_tcp("localhost", trap.port)
    only_v4 = GuardedBackend(AddressPolicy.from_cidrs(["127.0.0.1/32"]))
    with pytest.raises(BlockedAddressError):
        await only_v4.connect_tcp("127.0.0.2", trap.port)
    assert trap.connections == 0


async def test_the_checked_address_is_the_one_connected_to(
    client: httpx.AsyncClient,
    service: Service,
    receiver: tuple[Receiver, str],
    dns: FakeDNS,
) -> None:
    # DNS rebinding: the first answer passes the check, a second one would be
    # private. The trap listens on the receiver's port at the second address.
    app, receiver_url = receiver
    port = int(receiver_url.rsplit(":", 1)[1])
    trap = await Trap().start(port)
    try:
        name = f"rebind-{service.backend}.hooks.test"
        dns.answer(name, ["127.0.0.1"], ["127.0.0.2"])
        key = await _key(client)
        path = f"/ok/rebind-{service.backend}"
        notification_id = await _queue(client, key, f"http://{name}:{port}{path}")
        sent = await _settled(client, key, notification_id)
        assert (sent["status"], sent["last_error"]) == ("sent", None), sent
        ((headers, payload),) = app.received_on(path)
        assert payload["id"] == notification_id
        assert headers["host"] == f"{name}:{port}"  # the name, sent to the checked address
        assert dns.asked.count(name) == 1  # resolved once: checked and connected alike
        assert trap.connections == 0
    finally:
        await trap.close()


async def test_delivery_errors_do_not_tell_open_from_closed_ports(
    client: httpx.AsyncClient,
    service: Service,
    receiver: tuple[Receiver, str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    app, receiver_url = receiver
    key = await _key(client)
    closed = free_port()  # nobody listens
    # A TCP server that is no HTTP server (think Redis): it hangs up at once.
    silent = await asyncio.start_server(lambda _r, w: w.close(), "127.0.0.1", 0)
    try:
        talking = silent.sockets[0].getsockname()[1]
        with caplog.at_level(logging.WARNING, logger="notification_api.webhook"):
            ids = [
                await _queue(client, key, f"http://127.0.0.1:{closed}/"),
                await _queue(client, key, f"http://127.0.0.1:{talking}/"),
            ]
            answers = [await _settled(client, key, notification_id) for notification_id in ids]
    finally:
        silent.close()
        await silent.wait_closed()
    assert [answer["last_error"] for answer in answers] == [UNREACHABLE, UNREACHABLE]
    # The operator still sees what happened, in the service log only.
    logged = " ".join(record.getMessage() for record in caplog.records)
    assert "ConnectError" in logged, logged
    # Redirects are not followed (their target could be anything): a 3xx fails.
    path = f"/redirect/{service.backend}"
    redirected = await _settled(client, key, await _queue(client, key, f"{receiver_url}{path}"))
    assert redirected["last_error"] == "delivery failed: the receiver answered 3xx"
    assert len(app.received_on(path)) == service.settings.max_attempts


# -- mail headers ----------------------------------------------------------------

BAD_SUBJECTS = [
    "Hi\r\nBcc: victim@example.com",
    "Hi\nBcc: victim@example.com",
    "Hi\rthere",
    "nul\x00byte",
    "tab\there",
    "vertical\x0btab",
    "form\x0cfeed",
    "escape\x1b[31m",
    "delete\x7f",
    "next\x85line",
    "line\u2028separator",
    "paragraph\u2029separator",
]
BAD_RECIPIENTS = [
    "kim@example.com\r\nBcc: victim@example.com",
    "kim@example.com\nBcc: victim@example.com",
    "kim@example.com,victim@example.com",
    "kim@example.com;victim@example.com",
    "Kim<kim@example.com>",
    "<kim@example.com>",
    "kim@example.com(comment)",
    '"kim"@example.com',
    "kim@@example.com",
    "kim@exa@mple.com",
    "kim.@example.com",
    ".kim@example.com",
    "ki..m@example.com",
    "kim@-example.com",
    "kim@example..com",
    "kim@[127.0.0.1]",
    "kim@example.com\x00",
    "kïm@example.com",
    "k" * 65 + "@example.com",
]


async def test_mail_headers_cannot_be_injected(client: httpx.AsyncClient, service: Service) -> None:
    key = await _key(client)
    good = {"channel": "email", "recipient": "kim@example.com", "subject": "Hi", "body": "b"}
    cases = [{**good, "subject": subject} for subject in BAD_SUBJECTS]
    cases += [{**good, "recipient": recipient} for recipient in BAD_RECIPIENTS]
    for note in cases:
        response = await signed(client, "POST", PATH, key, json=note)
        assert_error(response, 422, "4220001")
    assert (await signed(client, "GET", PATH, key)).json()["total"] == 0
    # Plain ones still go, non-ASCII subjects included.
    note = {**good, "recipient": "o'brien+tag@mail.example.org", "subject": "Grüße 👋"}
    assert (await signed(client, "POST", PATH, key, json=note)).status_code == 202
