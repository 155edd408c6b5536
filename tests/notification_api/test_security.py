"""End to end: the security checks of issue 6 that the other suites do not make yet.

Already covered elsewhere, and not repeated here: the password absent from
``GET /me`` and the access log's masking (``test_accounts``, ``test_errors``),
expired and malformed tokens (``test_accounts.test_token_errors``), one login
answer for an unknown e-mail and a wrong password
(``test_accounts.test_register_and_login``), signature, timestamp and query
refusals and whitelist enforcement (``test_signed_requests``), other users'
keys and notifications as 404 (``test_keys``, ``test_signed_requests``), and
protected fields in ``PATCH /me`` answered 422 (``test_accounts``).

Added here: the stored hash, the password in no body and no log line of a
whole session, the token's ``exp``, ``alg=none``, wrong-key and tampered
tokens, constant-time comparison and a wrong signature of the right length,
a signed request replayed just outside the window, other users' whitelist
entries and key changes, and mass assignment checked in the database itself.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import inspect
import json
import logging
import time
from typing import Any

import httpx
import jwt
import pytest
from sqlalchemy import text

from notification_api import signing

from ..bad_input_figures import Figures, figures_fixture
from .api import (
    assert_error,
    create_key,
    register,
    signed,
    signed_query,
    unique_email,
    v2_signature,
)
from .conftest import Service

pytestmark = pytest.mark.e2e

FIGURES = Figures("security", ("checks", "requests", "server_errors", "rows_changed_by_rejected"))
report_figures = figures_fixture(FIGURES)
PASSWORD = "Sekrit-pw-7f3a9c"  # distinctive: searched for in every body and log line
NOTE = {"channel": "email", "recipient": "kim@example.com", "subject": "Hi", "body": "Hello"}
NOTIFICATIONS = "/api/services/notifications"


@pytest.fixture
async def http(client: httpx.AsyncClient, service: Service) -> httpx.AsyncClient:
    """The suite's client: counts requests and 5xx for the figures."""

    async def count(response: httpx.Response) -> None:
        FIGURES.add(service.backend, requests=1, server_errors=int(response.status_code >= 500))

    client.event_hooks = {"request": [], "response": [count]}
    return client


def checked(service: Service, count: int = 1) -> None:
    FIGURES.add(service.backend, checks=count)


async def rows(service: Service, sql: str, **params: Any) -> list[dict[str, Any]]:
    """Rows read straight from the service's database, behind the API's back."""
    async with service.database.engine.connect() as connection:
        result = await connection.execute(text(sql), params)
        return [dict(row._mapping) for row in result]


async def login(http: httpx.AsyncClient, email: str, pw: str) -> httpx.Response:
    return await http.post("/api/auth/login/email", json={"email": email, "pw": pw})


# -- passwords ---------------------------------------------------------------


async def test_password_is_stored_as_an_argon2_hash(
    http: httpx.AsyncClient, service: Service
) -> None:
    email = unique_email("hashed")
    created = await http.post("/api/auth/register/email", json={"email": email, "pw": PASSWORD})
    assert created.status_code == 201
    [row] = await rows(service, "SELECT pw FROM users WHERE email = :email", email=email)
    stored = row["pw"]
    assert stored.startswith("$argon2id$v=19$") and PASSWORD not in stored
    # Salted: the same password hashes differently for another account.
    other = unique_email("hashed")
    await http.post("/api/auth/register/email", json={"email": other, "pw": PASSWORD})
    [again] = await rows(service, "SELECT pw FROM users WHERE email = :email", email=other)
    assert again["pw"] != stored
    checked(service, 2)


async def test_password_in_no_response_and_no_log_line(
    http: httpx.AsyncClient, service: Service, caplog: pytest.LogCaptureFixture
) -> None:
    email = unique_email("quiet")
    bodies: list[str] = []
    with caplog.at_level(logging.DEBUG):
        for method, path, body in [
            ("POST", "/api/auth/register/email", {"email": email, "pw": PASSWORD}),
            ("POST", "/api/auth/register/email", {"email": email, "pw": PASSWORD}),  # taken
            ("POST", "/api/auth/login/email", {"email": email, "pw": PASSWORD}),
            ("POST", "/api/auth/login/email", {"email": email, "pw": PASSWORD + "x"}),
            ("POST", "/api/auth/login/email", {"email": "x" + email, "pw": PASSWORD}),
            ("POST", "/api/auth/register/email", {"email": "not-an-email", "pw": PASSWORD}),
            ("POST", "/api/auth/register/email", {"email": email, "pw": PASSWORD * 20}),
        ]:
            response = await http.request(method, path, json=body)
            bodies.append(response.text)
        auth = {"Authorization": json.loads(bodies[2])["Authorization"]}
        for method, path, body in [
            ("GET", "/api/users/me", None),
            ("PATCH", "/api/users/me", {"name": "Quiet"}),
            ("PATCH", "/api/users/me", {"pw": PASSWORD}),
            ("PATCH", "/api/users/me", {"name": PASSWORD * 20}),
            ("POST", "/api/users/apikeys", {"user_memo": "k"}),
            ("GET", "/api/users/apikeys", None),
        ]:
            response = await http.request(method, path, json=body, headers=auth)
            bodies.append(response.text)
    for body in bodies:
        assert PASSWORD not in body and "$argon2" not in body, body
    logged = [(record, f"{record.getMessage()} {record.args}") for record in caplog.records]
    assert logged, "the access log wrote nothing"
    # The password: in no record at all, DEBUG included, of any library.
    assert not [line for _, line in logged if PASSWORD in line]
    # Its hash: in none of the service's own records, and none at INFO or above
    # (aiosqlite's DEBUG records show statement parameters, the hash among them).
    assert not [
        line
        for record, line in logged
        if "$argon2" in line
        and (record.name.startswith("notification_api") or record.levelno >= logging.INFO)
    ]
    checked(service, len(bodies) + 1)


# -- tokens --------------------------------------------------------------------


def _forge(claims: dict[str, Any], *, header: dict[str, Any], key: bytes) -> str:
    """A JWT assembled by hand, so that any header (``alg=none``) can be sent."""

    def part(data: dict[str, Any]) -> str:
        raw = json.dumps(data, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    signing_input = f"{part(header)}.{part(claims)}"
    if header["alg"] == "none":
        return f"{signing_input}."
    digest = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{base64.urlsafe_b64encode(digest).rstrip(b'=').decode()}"


async def test_tokens_carry_exp_and_forged_tokens_are_refused(
    http: httpx.AsyncClient, service: Service
) -> None:
    victim_auth = await register(http)
    victim = (await http.get("/api/users/me", headers=victim_auth)).json()
    attacker_auth = await register(http)
    token = attacker_auth["Authorization"].removeprefix("Bearer ")

    claims = jwt.decode(token, options={"verify_signature": False})
    header = jwt.get_unverified_header(token)
    assert header["alg"] == service.settings.jwt_algorithm
    lifetime = dt.timedelta(minutes=service.settings.token_lifetime_minutes)
    assert claims["exp"] - claims["iat"] == lifetime.total_seconds()
    assert claims["exp"] > time.time()

    now = int(time.time())
    as_victim = {"sub": str(victim["id"]), "iat": now, "exp": now + 600}
    right_key = service.settings.jwt_key.encode()
    forged = {
        "alg=none": _forge(as_victim, header={"alg": "none", "typ": "JWT"}, key=b""),
        "alg=None": _forge(as_victim, header={"alg": "None", "typ": "JWT"}, key=b""),
        "wrong key": _forge(as_victim, header={"alg": "HS256", "typ": "JWT"}, key=b"guess" * 8),
        "empty key": _forge(as_victim, header={"alg": "HS256", "typ": "JWT"}, key=b""),
        # The attacker's own signature on a payload changed to the victim's id.
        "tampered payload": ".".join(
            [
                token.split(".")[0],
                _forge(as_victim, header={"alg": "HS256"}, key=b"").split(".")[1],
                token.split(".")[2],
            ]
        ),
        "no exp": _forge({"sub": str(victim["id"])}, header={"alg": "HS256"}, key=right_key),
        "expired a second ago": _forge(
            {**as_victim, "exp": now - 1}, header={"alg": "HS256"}, key=right_key
        ),
        "signature stripped": token.rsplit(".", 1)[0] + ".",
    }
    for name, bad in forged.items():
        response = await http.get("/api/users/me", headers={"Authorization": f"Bearer {bad}"})
        code = "4010015" if name == "expired a second ago" else "4010002"
        assert_error(response, 401, code)
    # The genuine token still works, and names the attacker, not the victim.
    me = await http.get("/api/users/me", headers=attacker_auth)
    assert me.status_code == 200 and me.json()["id"] != victim["id"]
    checked(service, len(forged) + 3)


# -- signed requests -----------------------------------------------------------


def test_signature_is_compared_in_constant_time() -> None:
    source = inspect.getsource(signing)
    assert "hmac.compare_digest(" in source
    # Nothing else compares the secret header: no ==, no startswith on it.
    assert "given ==" not in source and "== given" not in source
    assert "secret ==" not in source and "== secret" not in source


async def test_wrong_signatures_of_the_right_length_are_refused(
    http: httpx.AsyncClient, service: Service
) -> None:
    key = await create_key(http, await register(http))
    other = await create_key(http, await register(http))
    query = signed_query(key["access_key"])
    body = json.dumps(NOTE).encode()

    def v2(secret: str, text: str = query) -> str:
        return v2_signature(secret, "POST", NOTIFICATIONS, text, body)

    honest = v2(key["secret_key"])
    last = honest[-2]
    flipped_last = honest[:-2] + ("A" if last != "A" else "B") + honest[-1]
    canonical = "\n".join(
        ["NAPI-HMAC-SHA256-V2", "POST", NOTIFICATIONS, query, hashlib.sha256(body).hexdigest()]
    )
    wrong = {
        "another key's secret": v2(other["secret_key"]),
        "one character changed": flipped_last,
        "hex instead of base64": hmac.new(
            key["secret_key"].encode(), canonical.encode(), hashlib.sha256
        ).hexdigest()[: len(honest)],
        "signed without the nonce": v2(
            key["secret_key"], "&".join(p for p in query.split("&") if not p.startswith("nonce="))
        ),
    }
    for name, header in wrong.items():
        assert len(header) == len(honest), name
        response = await signed(
            http, "POST", NOTIFICATIONS, key, query=query, secret=header, json=NOTE
        )
        assert_error(response, 401, "4010008")
    accepted = await signed(http, "POST", NOTIFICATIONS, key, query=query, secret=honest, json=NOTE)
    assert accepted.status_code == 202
    checked(service, len(wrong) + 1)


async def test_replay_just_outside_the_window_is_refused(
    http: httpx.AsyncClient, service: Service
) -> None:
    key = await create_key(http, await register(http))
    window = service.settings.timestamp_window_seconds
    now = int(time.time())
    # A request a client signed honestly, captured and sent again later.
    for age, status in [
        (window + 2, 400),
        (window + 600, 400),
        (-(window + 2), 400),
        (window - 5, 202),
    ]:
        query = signed_query(key["access_key"], timestamp=now - age)
        response = await signed(http, "POST", NOTIFICATIONS, key, query=query, json=NOTE)
        if status == 400:
            assert_error(response, 401, "4010009")
        else:
            assert response.status_code == 202, response.text
    # The same captured request, its timestamp edited to look fresh: the signature breaks.
    stale = signed_query(key["access_key"], timestamp=now - window - 2, nonce="n" * 20)
    fresh = signed_query(key["access_key"], timestamp=now, nonce="n" * 20)
    body = json.dumps(NOTE).encode()
    replayed = await http.post(
        f"{NOTIFICATIONS}?{fresh}",
        headers={
            "X-Signature-Scheme": "NAPI-HMAC-SHA256-V2",
            "secret": v2_signature(key["secret_key"], "POST", NOTIFICATIONS, stale, body),
            "content-type": "application/json",
        },
        content=body,
    )
    assert_error(replayed, 401, "4010008")
    checked(service, 5)


async def test_whitelist_blocks_every_signed_route(
    http: httpx.AsyncClient, service: Service
) -> None:
    auth = await register(http)
    key = await create_key(http, auth)
    queued = await signed(http, "POST", NOTIFICATIONS, key, json=NOTE)
    assert queued.status_code == 202
    await http.post(
        f"/api/users/apikeys/{key['id']}/whitelists", json={"ip_addr": "::1"}, headers=auth
    )
    for method, path, body in [
        ("POST", NOTIFICATIONS, NOTE),
        ("GET", NOTIFICATIONS, None),
        ("GET", f"{NOTIFICATIONS}/{queued.json()['id']}", None),
    ]:
        assert_error(await signed(http, method, path, key, json=body), 403, "4030001")
    checked(service, 3)


# -- one user, another user's things -------------------------------------------


async def test_other_users_whitelist_entries_and_keys_are_not_found(
    http: httpx.AsyncClient, service: Service
) -> None:
    owner = await register(http)
    owner_key = await create_key(http, owner)
    added = await http.post(
        f"/api/users/apikeys/{owner_key['id']}/whitelists",
        json={"ip_addr": "192.0.2.10"},
        headers=owner,
    )
    entry_id = added.json()["id"]
    stranger = await register(http)
    stranger_key = await create_key(http, stranger)
    before = await rows(service, "SELECT * FROM api_keys ORDER BY id")
    before += await rows(service, "SELECT * FROM api_whitelists ORDER BY id")

    missing_key = await http.patch(
        "/api/users/apikeys/2147483647", json={"user_memo": "x"}, headers=stranger
    )
    for method, path, body in [
        # Through the stranger's own key: the entry belongs to another key.
        ("DELETE", f"/api/users/apikeys/{stranger_key['id']}/whitelists/{entry_id}", None),
        ("PATCH", f"/api/users/apikeys/{owner_key['id']}", {"status": "stopped"}),
        ("DELETE", f"/api/users/apikeys/{owner_key['id']}/whitelists/{entry_id}", None),
        ("GET", f"/api/users/apikeys/{owner_key['id']}/whitelists", None),
    ]:
        response = await http.request(method, path, json=body, headers=stranger)
        assert response.status_code == 404, (method, path, response.text)
    # Someone else's key answers exactly as a key that does not exist.
    theirs = await http.patch(
        f"/api/users/apikeys/{owner_key['id']}", json={"user_memo": "x"}, headers=stranger
    )
    assert theirs.json()["msg"] == missing_key.json()["msg"] == "NO_KEY_MATCH"
    assert theirs.json()["code"] == missing_key.json()["code"]

    after = await rows(service, "SELECT * FROM api_keys ORDER BY id")
    after += await rows(service, "SELECT * FROM api_whitelists ORDER BY id")
    FIGURES.add(service.backend, rows_changed_by_rejected=len(before) - len(after))
    assert after == before
    checked(service, 6)


async def test_other_users_notifications_look_like_missing_ones(
    http: httpx.AsyncClient, service: Service
) -> None:
    mine = await create_key(http, await register(http))
    theirs = await create_key(http, await register(http))
    queued = await signed(http, "POST", NOTIFICATIONS, theirs, json=NOTE)
    their_id = queued.json()["id"]
    hidden = await signed(http, "GET", f"{NOTIFICATIONS}/{their_id}", mine)
    missing = await signed(http, "GET", f"{NOTIFICATIONS}/2147483647", mine)
    for response in (hidden, missing):
        assert_error(response, 404, "4040000")
    assert hidden.json()["msg"] == missing.json()["msg"]
    assert NOTE["recipient"] not in hidden.text
    listed = await signed(http, "GET", NOTIFICATIONS, mine, status="queued")
    assert listed.json()["total"] == 0
    checked(service, 3)


# -- mass assignment, in the database ------------------------------------------


async def test_patch_me_changes_no_protected_column(
    http: httpx.AsyncClient, service: Service
) -> None:
    email = unique_email("mass")
    auth = await register(http, email)
    query = "SELECT * FROM users WHERE email = :email"
    [before] = await rows(service, query, email=email)
    attempts: list[dict[str, Any]] = [
        {"status": "admin"},
        {"email": "taken-over@example.com"},
        {"pw": "new-password"},
        {"sns_type": "kakao"},
        {"id": before["id"] + 1},
        {"created_at": "2000-01-01T00:00:00Z"},
        {"updated_at": "2000-01-01T00:00:00Z"},
        {"name": "Mallory", "status": "admin"},  # one refused field: nothing is written
        {"name": "Mallory", "email": "taken-over@example.com"},
        # sqlrecord's own keyword options, smuggled in the body (fixed: they were honoured).
        {"allow_protected": True, "status": "admin", "email": "taken-over@example.com"},
        {"allow_protected": ["status"], "status": "admin"},
        {"auto_commit": True, "name": "Mallory"},
        {"session": None, "name": "Mallory"},
    ]
    for body in attempts:
        response = await http.patch("/api/users/me", json=body, headers=auth)
        assert response.status_code == 422, (body, response.text)
    [after] = await rows(service, query, email=email)
    changed = [name for name in before if before[name] != after[name]]
    FIGURES.add(service.backend, rows_changed_by_rejected=int(bool(changed)))
    assert not changed, changed
    # The account still logs in with its own password only.
    assert (await login(http, email, "pw-123456")).status_code == 200
    assert_error(await login(http, email, "new-password"), 401, "4010014")
    checked(service, len(attempts) + 2)
