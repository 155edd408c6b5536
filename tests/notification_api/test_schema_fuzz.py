"""Schemathesis against the served OpenAPI schema: no generated request may cause a 5xx.

The service runs as ``python -m notification_api`` in a subprocess (the way
``./scripts/run`` starts it) on a SQLite file. Requests carry a valid token,
and service requests a valid signature, so the generated data reaches the
routes' own checks instead of stopping at authentication. Bounded:
``FUZZ_EXAMPLES`` examples per operation.
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

from notification_api.signing import sign

from .servers import free_port

pytestmark = [pytest.mark.slow, pytest.mark.e2e]
FUZZ_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "15"))
KEY_PATH = "/api/users/apikeys/{key_id}"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    workdir = Path(tmp_path_factory.mktemp("fuzz"))
    port = free_port()
    env = {
        **os.environ,
        "API_ENV": "test",
        "DB_URL": f"sqlite+aiosqlite:///{workdir / 'fuzz.db'}",
        "JWT_SECRET": "fuzz-" * 8,
        "WORKER_ENABLED": "false",
        "PORT": str(port),
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
        yield base_url
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


def test_no_server_errors(served: str) -> None:
    schema = schemathesis.openapi.from_url(f"{served}/openapi.json")
    account = Account(served)
    statuses: dict[int, int] = {}
    for result in schema.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy())
        @settings(
            max_examples=FUZZ_EXAMPLES,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def check(case: schemathesis.Case) -> None:
            path_ids = case.path_parameters or {}
            if path_ids.get("key_id", 1) % 2 == 0:  # half the time: a key that exists
                path_ids["key_id"] = account.key["id"]
            case.query, headers = account.credentials(case.path, case.query)
            response = case.call(base_url=served, headers=headers, timeout=10)
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
            assert response.status_code < 500, (case.method, case.path, response.text)
            if case.method == "DELETE" and case.path in ("/api/users/me", KEY_PATH):
                account.renew()  # the account or its key may be gone

        check()
    # The signatures and tokens worked: the routes' own answers were reached.
    assert any(200 <= status < 300 for status in statuses), statuses
    print(sorted(statuses.items()))
