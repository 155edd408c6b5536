"""Schemathesis against the served OpenAPI schema: no 5xx, no response off the schema.

The service runs as ``python -m notification_api`` in a subprocess (the way
``./scripts/run`` starts it), on SQLite and, when their URLs are set, on
PostgreSQL and MariaDB (in a database of its own next to the suite's,
``<name>_fuzz``, so that nothing meets the other tests' rows). Requests carry
a valid token, and service requests a valid signature, so the generated data
reaches the routes' own checks instead of stopping at authentication.

Every response is checked for a server error, a status code the schema does
not list, a content type it does not list, and a body that does not match
the listed schema. Two runs per database:

- each operation on its own, ``FUZZ_EXAMPLES`` examples (15 by default);
- stateful: sequences that follow the schema's OpenAPI links (a new key to
  its update, deletion and whitelist, a whitelist entry to its removal, a
  queued notification to its status), ``FUZZ_SCENARIOS`` scenarios (25).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from notification_api.signing import sign

from ..bad_input_figures import Figures, figures_fixture
from .conftest import BACKENDS, TEST_RATE_LIMITS, URL_VARIABLES
from .servers import free_port

pytestmark = [pytest.mark.slow, pytest.mark.e2e]
FUZZ_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "15"))
FUZZ_SCENARIOS = int(os.environ.get("FUZZ_SCENARIOS", "25"))
FIGURES = Figures(
    "schema_fuzz", ("operations", "cases", "scenarios", "requests", "server_errors", "violations")
)
report_figures = figures_fixture(FIGURES)
KEY_PATH = "/api/users/apikeys/{key_id}"
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


async def _own_database(url: str) -> str:
    """``url`` with ``_fuzz`` added to its database name; the database is made afresh."""
    server = make_url(url)
    name = f"{server.database}_fuzz"
    engine = create_async_engine(server, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as connection:
            if server.get_backend_name() == "postgresql":
                await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                await connection.execute(text(f'CREATE DATABASE "{name}"'))
            else:
                await connection.execute(text(f"DROP DATABASE IF EXISTS `{name}`"))
                await connection.execute(text(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4"))
    finally:
        await engine.dispose()
    return server.set(database=name).render_as_string(hide_password=False)


@pytest.fixture(scope="module", params=BACKENDS)
async def fuzz_db_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{Path(tmp_path_factory.mktemp('fuzz')) / 'fuzz.db'}"
    return await _own_database(os.environ[URL_VARIABLES[request.param]])


@pytest.fixture(scope="module")
def served(fuzz_db_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """The service in a subprocess: (backend, base URL)."""
    workdir = Path(tmp_path_factory.mktemp("fuzz"))
    port = free_port()
    backend = make_url(fuzz_db_url).get_backend_name()
    env = {
        **os.environ,
        "API_ENV": "test",
        "DB_URL": fuzz_db_url,
        "JWT_SECRET": "fuzz-" * 8,
        "WORKER_ENABLED": "false",
        "PORT": str(port),
        # Generated requests sign up and log in far beyond the default limits.
        **{name.upper(): value for name, value in TEST_RATE_LIMITS.items()},
    }
    log = (workdir / "server.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "-m", "notification_api"], env=env, stdout=log, stderr=log, cwd=workdir
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                if httpx.get(f"{base_url}/").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.05)
        else:
            raise AssertionError((workdir / "server.log").read_text())
        yield backend, base_url
    finally:
        server.terminate()
        server.wait(timeout=10)
        log.close()
    if "Traceback" in (text := (workdir / "server.log").read_text()):
        # A 5xx is caught below; a trace without one would still be a bug.
        print(text[-3000:])


class Account:
    """A user with a key; replaced when a generated request deletes it."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.renew()

    def renew(self) -> None:
        with httpx.Client(base_url=self.base_url) as http:
            email = f"fuzz-{time.monotonic_ns()}@example.com"
            token = http.post("/api/auth/register/email", json={"email": email, "pw": "pw"})
            self.auth = token.json()["Authorization"]
            key = http.post("/api/users/apikeys", json={}, headers={"Authorization": self.auth})
            self.key = key.json()

    def credentials(self, path: str, query: dict[str, Any] | None) -> tuple[dict[str, Any], dict]:
        if not path.startswith("/api/services/"):
            return dict(query or {}), {"Authorization": self.auth}
        signed = {
            **{k: v for k, v in (query or {}).items() if k not in ("key", "timestamp")},
            "key": self.key["access_key"],
            "timestamp": str(int(time.time())),
        }
        return signed, {"secret": sign(self.key["secret_key"], urlencode(signed, doseq=True))}


def _sign_and_send(account: Account, case: schemathesis.Case) -> dict[str, Any]:
    """Put the account's token or signature on ``case``; the headers it needs."""
    case.query, headers = account.credentials(case.path, case.query)
    # The generated ``secret``/``Authorization`` headers must not win over the real ones.
    case.headers = {**(case.headers or {}), **headers}
    return headers


def _after(account: Account, case: schemathesis.Case, response: Any) -> None:
    gone = case.path == "/api/users/me" or (
        case.path == KEY_PATH and case.path_parameters == {"key_id": account.key["id"]}
    )
    if case.method == "DELETE" and response.status_code < 300 and gone:
        account.renew()  # the account or its signing key is gone


def _validate(
    backend: str, case: schemathesis.Case, response: Any, headers: dict[str, Any]
) -> None:
    FIGURES.add(backend, requests=1, server_errors=int(response.status_code >= 500))
    try:
        case.validate_response(response, checks=CHECKS, headers=headers)
    except BaseException:
        FIGURES.add(backend, violations=1)
        raise


def test_every_operation_answers_within_its_schema(served: tuple[str, str]) -> None:
    backend, base_url = served
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json")
    account = Account(base_url)
    statuses: dict[int, int] = {}
    for result in schema.get_all_operations():
        operation = result.ok()
        FIGURES.add(backend, operations=1)

        @given(case=operation.as_strategy())
        @settings(
            max_examples=FUZZ_EXAMPLES,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def check(case: schemathesis.Case) -> None:
            FIGURES.add(backend, cases=1)
            path_ids = case.path_parameters or {}
            if path_ids.get("key_id", 1) % 2 == 0:  # half the time: a key that exists
                path_ids["key_id"] = account.key["id"]
            headers = _sign_and_send(account, case)
            response = case.call(base_url=base_url, headers=headers, timeout=10)
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
            _validate(backend, case, response, headers)
            _after(account, case, response)

        check()
    # The signatures and tokens worked: the routes' own answers were reached.
    assert any(200 <= status < 300 for status in statuses), statuses
    print(backend, sorted(statuses.items()))


def test_linked_sequences_answer_within_the_schema(served: tuple[str, str]) -> None:
    backend, base_url = served
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json")
    account = Account(base_url)
    followed: dict[str, int] = {}

    class Scenario(schema.as_state_machine()):  # type: ignore[misc]
        def setup(self) -> None:
            FIGURES.add(backend, scenarios=1)
            account.renew()  # a fresh user: room for new keys, nothing left by others

        def get_call_kwargs(self, case: schemathesis.Case) -> dict[str, Any]:
            headers = _sign_and_send(account, case)
            return {"base_url": base_url, "headers": headers, "timeout": 10}

        def after_call(self, response: Any, case: schemathesis.Case) -> None:
            label = f"{case.method} {case.path} {response.status_code}"
            followed[label] = followed.get(label, 0) + 1
            _after(account, case, response)

        def validate_response(self, response: Any, case: schemathesis.Case, **kwargs: Any) -> None:
            FIGURES.add(backend, cases=1)
            _validate(backend, case, response, kwargs.get("headers") or {})

    Scenario.run(
        settings=settings(
            max_examples=FUZZ_SCENARIOS,
            stateful_step_count=6,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
    )
    print(backend, sorted(followed.items()))
    # Links were followed to a resource that existed: a call with a path id got a 2xx.
    assert any("{" in label and label.endswith(("200", "201", "204")) for label in followed), (
        followed
    )
