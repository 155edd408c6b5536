"""Schemathesis against the served OpenAPI schema: every phase, every check, no failure.

The service runs as ``python -m notification_api`` in a subprocess (the way
``./scripts/run`` starts it), on SQLite and, when their URLs are set, on
PostgreSQL and MariaDB (in a database of its own next to the suite's,
``<name>_fuzz``, so that nothing meets the other tests' rows). Schemathesis
runs as its command line does (``st run``) in another subprocess, with:

- every phase the installed version has: examples, coverage (boundary and
  just-invalid values of every keyword, undeclared methods, missing headers),
  fuzzing (positive and negative data), stateful (sequences that follow the
  schema's links);
- every check (``--checks all``): no 5xx; statuses, content types, headers
  and bodies as documented; schema-valid data accepted, schema-invalid data
  refused; 405 with a true ``Allow`` for undeclared methods; a deleted
  resource gone; declared authentication enforced; ...;
- real credentials for every operation that declares a security scheme
  (``schemathesis_hooks.py``), so generated data reaches the routes' own
  checks instead of stopping at authentication.

Nothing here names a route: the run follows whatever the schema declares.
``FUZZ_EXAMPLES`` (examples per operation in the fuzzing phase, 5 by
default) and ``FUZZ_SEED`` (fixed by default, ``random`` for a new one) size
the run; ``FUZZ_EXAMPLES=100`` is the closing run's size.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import make_url

from ..bad_input_figures import Figures, figures_fixture
from .conftest import BACKENDS, TEST_RATE_LIMITS, URL_VARIABLES, own_database
from .servers import free_port

pytestmark = [pytest.mark.slow, pytest.mark.e2e]
FUZZ_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "5"))
_SEED = os.environ.get("FUZZ_SEED", "20261206")
FUZZ_SEED = random.randrange(2**32) if _SEED == "random" else int(_SEED)
FIGURES = Figures("schema_fuzz", ("operations", "cases", "requests", "server_errors", "violations"))
report_figures = figures_fixture(FIGURES)
ROOT = Path(__file__).resolve().parents[2]
PHASES = "examples,coverage,fuzzing,stateful"


@pytest.fixture(scope="module", params=BACKENDS)
async def fuzz_db_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{Path(tmp_path_factory.mktemp('fuzz')) / 'fuzz.db'}"
    return await own_database(os.environ[URL_VARIABLES[request.param]], suffix="_fuzz")


@pytest.fixture(scope="module")
def served(
    fuzz_db_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, str, Path]]:
    """The service in a subprocess: (backend, base URL, its log file)."""
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
        # Hundreds of registrations and log-ins: argon2's cost here is the run's time,
        # not what it tests (tests/notification_api/test_security.py checks the hashing).
        "PASSWORD_HASH_TIME_COST": "1",
        "PASSWORD_HASH_MEMORY_KIB": "1024",
        # Generated requests sign up and log in far beyond the default limits.
        **{name.upper(): value for name, value in TEST_RATE_LIMITS.items()},
    }
    log_path = workdir / "server.log"
    log = log_path.open("w")
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
            raise AssertionError(log_path.read_text())
        yield backend, base_url, log_path
    finally:
        server.terminate()
        server.wait(timeout=10)
        log.close()


def _access_log(log_path: Path) -> list[dict[str, Any]]:
    """The server's access-log lines (one JSON object per request)."""
    lines = []
    for line in log_path.read_text(errors="replace").splitlines():
        start = line.find('{"method"')
        if start >= 0:
            lines.append(json.loads(line[start:]))
    return lines


def _run_schemathesis(base_url: str, report_dir: Path) -> tuple[dict[str, Any], str]:
    """``st run`` with every phase and check; its JSON report and its output."""
    command = [
        str(Path(sys.executable).with_name("st")),
        "run",
        f"{base_url}/openapi.json",
        f"--phases={PHASES}",
        "--checks=all",
        f"--max-examples={FUZZ_EXAMPLES}",
        f"--seed={FUZZ_SEED}",
        # One worker: hypothesis' lambda descriptions are not thread-safe on Python 3.11
        # ("AST constructor recursion depth mismatch" as a runtime error of the run).
        "--workers=1",
        "--suppress-health-check=all",
        "--request-timeout=30",
        "--report=json",
        f"--report-dir={report_dir}",
    ]
    env = {
        **os.environ,
        "FUZZ_BASE_URL": base_url,
        "SCHEMATHESIS_HOOKS": "tests.notification_api.schemathesis_hooks",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        "NO_COLOR": "1",
    }
    finished = subprocess.run(
        command,
        env=env,
        cwd=report_dir.parent,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    reports = sorted(report_dir.glob("*.json"))
    assert reports, finished.stdout[-5000:] + finished.stderr[-5000:]
    return json.loads(reports[-1].read_text()), finished.stdout + finished.stderr


def test_schemathesis_finds_nothing(
    served: tuple[str, str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    backend, base_url, log_path = served
    report, output = _run_schemathesis(base_url, tmp_path / "report")
    requests = _access_log(log_path)
    server_errors = sum(line["status"] >= 500 for line in requests)
    failures = sum(failure["count"] for failure in report["failures"])
    FIGURES.add(
        backend,
        operations=report["operations"]["tested"],
        cases=report["test_cases"]["generated"],
        requests=len(requests),
        server_errors=server_errors,
        violations=failures,
    )
    with capsys.disabled():
        print(
            f"\n{backend}: schemathesis seed {report['seed']}, "
            f"{report['operations']['tested']} operations, "
            f"{report['test_cases']['generated']} test cases, {len(requests)} requests, "
            f"{failures} failures, {len(report['errors'])} errors"
        )
    summary = output[output.find("=== FAILURES") :] if failures or report["errors"] else ""
    assert report["complete"], output[-8000:]
    assert not report["failures"], summary[:20000]
    assert not report["errors"], output[-8000:]
    assert report["operations"]["tested"] == report["operations"]["selected"] > 0
    assert server_errors == 0, log_path.read_text()[-5000:]
    assert "Traceback" not in log_path.read_text(errors="replace"), log_path.read_text()[-5000:]
    # The credentials worked: schema-valid requests to protected operations were
    # accepted (2xx) in some phase, so the routes' own code ran, not only the auth.
    accepted = {
        label: sum(phase.get("accepted", 0) for phase in rates.values())
        for label, rates in report["valid_rates"].items()
    }
    schema = httpx.get(f"{base_url}/openapi.json").json()
    protected = {
        f"{method.upper()} {path}"
        for path, item in schema["paths"].items()
        for method, operation in item.items()
        if operation.get("security")
    }
    assert protected and any(accepted.get(label, 0) for label in protected), accepted
