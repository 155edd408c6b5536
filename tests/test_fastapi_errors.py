"""sqlrecord's errors as HTTP answers: statuses, RFC 9457 bodies, the body hook, logs."""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request

from sqlrecord import Database
from sqlrecord.exceptions import (
    ConfigurationError,
    DatabaseUnavailableError,
    MultipleResultsError,
    NotLoadedError,
    SQLRecordError,
    TransactionConflictError,
)
from sqlrecord.fastapi import (
    Problem,
    RequestSession,
    install_error_handlers,
    request_session,
)

from .helpers import asgi_client, count_rows
from .models import Post, User

PROBLEM_JSON = "application/problem+json"


def _app(db: Database) -> FastAPI:
    app = FastAPI()
    db.init_app(app)  # installs the default handlers

    @app.post("/users")
    async def sign_up(form: dict[str, Any], session: RequestSession) -> dict[str, int]:
        return {"id": (await User.create(**form)).id}

    @app.get("/users/{user_id}")
    async def read(user_id: int, session: RequestSession) -> dict[str, str]:
        return {"email": (await User.get_or_fail(user_id)).email}

    @app.get("/users")
    async def listing(order: str, session: RequestSession) -> list[str]:
        return [user.email for user in await User.order_by(order).all()]

    @app.post("/posts")
    async def post(form: dict[str, Any], session: RequestSession) -> dict[str, int]:
        return {"id": (await Post.create(**form)).id}

    @app.get("/raise/{kind}")
    async def raises(kind: str) -> None:
        raise {
            "conflict": TransactionConflictError("deadlock detected on users"),
            "unavailable": DatabaseUnavailableError("connection to 10.0.0.7 lost"),
            "not-loaded": NotLoadedError.for_attribute("User", "posts"),
            "multiple": MultipleResultsError("2 rows for User(email=...)"),
            "configuration": ConfigurationError("no URL"),
        }[kind]

    return app


@pytest.fixture
async def client(db: Database) -> AsyncIterator[httpx.AsyncClient]:
    async with asgi_client(_app(db)) as client:
        yield client


async def test_a_duplicate_is_409_problem_details(db: Database, client: httpx.AsyncClient) -> None:
    assert (await client.post("/users", json={"email": "kim@example.com"})).status_code == 200
    response = await client.post("/users", json={"email": "kim@example.com"})
    assert response.status_code == 409
    assert response.headers["content-type"] == PROBLEM_JSON
    assert response.json() == {
        "type": "urn:sqlrecord:problem:duplicate-key",
        "title": "Duplicate",
        "status": 409,
        "detail": "A record with these values exists already.",
        "instance": "/users",
    }
    assert await count_rows(db, User) == 1


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "kind"),
    [
        ("GET", "/users/999", None, 404, "not-found"),
        ("GET", "/users/not-a-number", None, 422, None),  # FastAPI's own validation
        ("GET", "/users?order=password", None, 422, "invalid-field"),
        ("POST", "/users", {"email": "a@example.com", "is_admin": True}, 422, "protected-field"),
        ("POST", "/users", {"email": "a@example.com", "session": None}, 422, "invalid-field"),
        ("POST", "/users", {"email": "a@example.com", "age": "old"}, 422, "invalid-value"),
        ("POST", "/posts", {"title": "x", "author_id": 424242}, 409, "foreign-key"),
        ("POST", "/users", {"name": "no e-mail"}, 422, "missing-value"),
    ],
)
async def test_each_request_error_has_its_status(
    db: Database,
    client: httpx.AsyncClient,
    method: str,
    path: str,
    body: dict[str, Any] | None,
    status: int,
    kind: str | None,
) -> None:
    response = await client.request(method, path, json=body)
    assert response.status_code == status, response.text
    if kind is not None:
        problem = response.json()
        assert problem["type"] == f"urn:sqlrecord:problem:{kind}"
        assert problem["status"] == status
        # The library's own words name tables and columns: never in the answer.
        for schema_name in ("users", "posts", "author_id", "constraint", "sqlrecord", "allow_"):
            assert schema_name not in problem["detail"]
    assert await count_rows(db, User) == 0
    assert await count_rows(db, Post) == 0


@pytest.mark.parametrize(
    ("kind", "status", "level"),
    [
        # Momentary: the client may try again; the log gets a warning.
        ("conflict", 503, logging.WARNING),
        ("unavailable", 503, logging.WARNING),
        # The app's own bugs: a 500, and the traceback in the log.
        ("not-loaded", 500, logging.ERROR),
        ("multiple", 500, logging.ERROR),
        ("configuration", 500, logging.ERROR),
    ],
)
async def test_server_side_errors(
    client: httpx.AsyncClient, kind: str, status: int, level: int, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="sqlrecord.fastapi"):
        response = await client.get(f"/raise/{kind}")
    assert response.status_code == status
    if status == 503:
        assert response.headers["retry-after"] == "1"
        assert response.json()["detail"] == "The service is busy; try again in a moment."
    else:
        assert "retry-after" not in response.headers
        assert response.json()["type"] == "urn:sqlrecord:problem:internal"
    for private in ("10.0.0.7", "User", "deadlock", "URL"):  # the errors' own words
        assert private not in response.text
    [record] = [r for r in caplog.records if r.name == "sqlrecord.fastapi"]
    assert record.levelno == level
    assert (record.exc_info is not None) is (level == logging.ERROR)


async def test_a_4xx_logs_the_librarys_detail_for_the_developer(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="sqlrecord.fastapi"):
        await client.get("/users/999")
    [record] = [r for r in caplog.records if r.name == "sqlrecord.fastapi"]
    assert record.levelno == logging.INFO
    assert "GET /users/999 answered 404" in record.getMessage()
    assert "User" in record.getMessage()


def _our_body(request: Request, problem: Problem) -> dict[str, Any]:
    return {"status": problem.status, "code": problem.kind, "path": request.url.path}


async def test_the_body_hook_shapes_the_answer(db: Database) -> None:
    app = FastAPI()
    db.init_app(app)
    install_error_handlers(app, body=_our_body, retry_after=7)

    @app.get("/users/{user_id}", dependencies=[request_session(commit="never")])
    async def read(user_id: int) -> None:
        await User.get_or_fail(user_id)

    @app.get("/busy")
    async def busy() -> None:
        raise TransactionConflictError("deadlock")

    async with asgi_client(app) as client:
        missing = await client.get("/users/5")
        busy = await client.get("/busy")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/json"
    assert missing.json() == {"status": 404, "code": "not-found", "path": "/users/5"}
    assert busy.headers["retry-after"] == "7"


async def test_init_app_can_leave_errors_to_the_app(db: Database) -> None:
    app = FastAPI()
    db.init_app(app, error_handlers=False)
    assert SQLRecordError not in app.exception_handlers


def test_the_docs_table_is_the_mapping() -> None:
    """docs/fastapi.md's table of statuses says what ``problem_for`` does."""
    from pathlib import Path

    from sqlrecord import exceptions
    from sqlrecord.fastapi import problem_for

    page = Path(__file__).resolve().parent.parent / "docs" / "fastapi.md"
    rows = [
        line.split("|")[1:4]
        for line in page.read_text(encoding="utf-8").splitlines()
        if line.startswith("| `") and line.count("|") == 4
    ]
    checked = 0
    for names, status, kind in rows:
        one_class = re.fullmatch(r"`([A-Z]\w+Error)`", names.strip())
        if one_class is None:
            continue  # "another ...", "anything else (...)", the commit modes' table
        error_class = getattr(exceptions, one_class.group(1))
        error = error_class("x")
        problem = problem_for(error)
        assert str(problem.status) == status.split(",")[0].strip(), names
        assert problem.kind == kind.strip().strip("`"), names
        checked += 1
    assert checked == 11
