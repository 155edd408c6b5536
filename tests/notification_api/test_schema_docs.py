"""End to end: the API's own page and schema (issue 16, finding 9).

- ``/docs`` and ``/redoc`` load their scripts and styles from the service
  itself, never from another host (they used to come from a CDN: a blank page
  without internet access);
- the schema declares its security schemes, and each operation the scheme it
  really enforces;
- the schema says what the routes do: required fields, the sign-in types that
  work, no extra fields where extras are refused, and for every path the
  methods it takes (``Allow`` on 405 and ``OPTIONS``, ``HEAD`` as ``GET``);
- error details name nothing internal: no sqlrecord option, no constraint, no
  table, no driver message.

Everything is read from the served ``/openapi.json``, so routes added later are
covered as they come.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urljoin

import httpx
import pytest

from .api import assert_error, register, unique_email

pytestmark = pytest.mark.e2e

METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


async def _schema(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.get("/openapi.json")
    assert response.status_code == 200
    schema: dict[str, Any] = response.json()
    # The suite's fault-provoking routes are not part of the service.
    schema["paths"] = {p: i for p, i in schema["paths"].items() if not p.startswith("/_faults")}
    return schema


def _operations(schema: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, operation)
        for path, item in schema["paths"].items()
        for method, operation in item.items()
        if method in METHODS
    ]


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "1", path)


@pytest.mark.parametrize(
    ("page", "kinds"),
    [
        ("/docs", {".js": "javascript", ".css": "text/css", ".png": "image/png"}),
        ("/redoc", {".js": "javascript", ".png": "image/png"}),
    ],
)
async def test_docs_pages_load_only_the_services_own_files(
    client: httpx.AsyncClient, page: str, kinds: dict[str, str]
) -> None:
    html = await client.get(page)
    assert html.status_code == 200 and html.headers["content-type"].startswith("text/html")
    urls = re.findall(r"""(?:src|href|spec-url)\s*=\s*["']([^"']+)["']""", html.text)
    urls += re.findall(r"""url\s*:\s*["']([^"']+)["']""", html.text)  # the schema's address
    assert urls, html.text
    # No absolute or protocol-relative address anywhere in the page.
    assert not re.search(r"(?:https?:)?//[\w.-]+\.\w", html.text), html.text
    assert "/openapi.json" in urls
    found = set()
    for url in urls:
        assert url.startswith("/") and not url.startswith("//"), url
        asset = await client.get(urljoin(str(client.base_url), url))
        assert asset.status_code == 200, url
        for suffix, content_type in kinds.items():
            if url.endswith(suffix):
                assert content_type in asset.headers["content-type"], (url, asset.headers)
                assert len(asset.content) > 1000, url  # the real file, not a stub
                found.add(suffix)
    assert found == set(kinds), urls


async def test_the_schema_declares_the_security_schemes(client: httpx.AsyncClient) -> None:
    schema = await _schema(client)
    schemes = schema["components"]["securitySchemes"]
    bearer = [name for name, s in schemes.items() if s == {**s, "type": "http", "scheme": "bearer"}]
    assert len(bearer) == 1, schemes  # what Swagger UI's Authorize button fills in
    signed = {(s["in"], s["name"]): name for name, s in schemes.items() if s["type"] == "apiKey"}
    assert set(signed) == {
        ("query", "key"),
        ("query", "timestamp"),
        ("query", "nonce"),
        ("header", "secret"),
    }
    protected = 0
    for method, path, operation in _operations(schema):
        requirements = operation.get("security", [])
        for requirement in requirements:
            assert set(requirement) <= set(schemes), (method, path, requirement)
            # A signed request presents all three at once: one requirement names them all.
            assert set(requirement) & set(signed.values()) in (set(), set(signed.values()))
        # Declared exactly where enforced: without credentials, 401 if and only if declared.
        response = await client.request(method, _concrete(path), json={})
        assert (response.status_code == 401) == bool(requirements), (method, path, response.text)
        if requirements:
            protected += 1
            assert response.headers["www-authenticate"], (method, path)
            assert response.json()["status"] == 401
    assert protected >= 10


async def test_the_schema_says_what_the_routes_accept(client: httpx.AsyncClient) -> None:
    schema = await _schema(client)
    components = schema["components"]["schemas"]
    for path in ("/api/auth/register/{sns_type}", "/api/auth/login/{sns_type}"):
        operation = schema["paths"][path]["post"]
        body = operation["requestBody"]["content"]["application/json"]["schema"]
        assert set(components[body["$ref"].rsplit("/", 1)[1]]["required"]) == {"email", "pw"}
        empty = await client.post(path.replace("{sns_type}", "email"), json={})
        assert_error(empty, 422, "4220001")
        [sns_type] = operation["parameters"]
        offered = components[sns_type["schema"]["$ref"].rsplit("/", 1)[1]]["enum"]
        assert offered == ["email"]  # kakao & co. were offered and then refused
        body = {"email": unique_email(), "pw": "pw-123456"}
        for refused in ("kakao", "google", "facebook"):
            response = await client.post(path.replace("{sns_type}", refused), json=body)
            assert_error(response, 422, "4220001")

    patch_me = schema["paths"]["/api/users/me"]["patch"]
    ref = patch_me["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    assert components[ref.rsplit("/", 1)[1]]["additionalProperties"] is False
    auth = await register(client)
    extra = await client.patch("/api/users/me", json={"nickname": "k"}, headers=auth)
    assert_error(extra, 422, "4220001")
    # Types as declared: no coercion of 0 into false, no null for a NOT NULL column.
    for body in ({"marketing_agree": 0}, {"marketing_agree": None}, {"name": "a\x00b"}):
        assert_error(await client.patch("/api/users/me", json=body, headers=auth), 422, "4220001")
    # A body that is not UTF-8 is refused like one that is not JSON.
    garbled = await client.post(
        "/api/auth/login/email", content=b"\xff\xfe{", headers={"content-type": "application/json"}
    )
    assert_error(garbled, 422, "4220001")


async def test_every_path_answers_its_own_methods(client: httpx.AsyncClient) -> None:
    schema = await _schema(client)
    auth = await register(client)
    for path, item in schema["paths"].items():
        declared = {method.upper() for method in item if method in METHODS}
        expected = declared | {"OPTIONS"} | ({"HEAD"} if "GET" in declared else set())
        url = _concrete(path)
        options = await client.options(url)
        assert options.status_code == 204, (path, options.text)
        assert set(options.headers["allow"].split(", ")) == expected, path
        for method in {"GET", "PUT", "POST", "PATCH", "DELETE", "TRACE"} - declared:
            refused = await client.request(method, url, headers=auth)
            assert_error(refused, 405, "4050000")
            assert set(refused.headers["allow"].split(", ")) == expected, (method, path)
        if "GET" in declared:
            get = await client.get(url, headers=auth)
            head = await client.head(url, headers=auth)
            assert head.status_code == get.status_code and head.content == b"", path
            assert head.headers["content-type"] == get.headers["content-type"], path


async def test_error_details_name_nothing_internal(client: httpx.AsyncClient) -> None:
    internal = re.compile(
        r"allow_protected|auto_commit|Settable|uq_|fk_|pk_|ix_|users\.|constraint|"
        r"UNIQUE|Duplicate entry|duplicate key|IntegrityError|sqlrecord",
        re.IGNORECASE,
    )
    email = unique_email()
    auth = await register(client, email)
    answers = [
        await client.post("/_faults/duplicate", params={"email": email}),
        await client.post("/_faults/foreign-key"),
        await client.get("/_faults/missing"),
        await client.get("/_faults/invalid-value"),
    ]
    # Protected and unknown fields: refused without a word on how the model is guarded.
    for body in ({"status": "admin"}, {"pw": "x"}, {"nickname": "x"}):
        answers.append(await client.patch("/api/users/me", json=body, headers=auth))
    for answer in answers:
        assert 400 <= answer.status_code < 500, answer.text
        assert not internal.search(answer.json()["detail"]), answer.text
