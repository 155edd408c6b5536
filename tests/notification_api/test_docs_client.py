"""The client function and the worked example of docs/notification-api.md are right.

The Python block that defines ``signed_request`` is taken from the document as
it is and run against the real server; the example's canonical request and
signatures are recomputed with the server's own functions.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from notification_api.signing import canonical_request, sign_v2

from .api import assert_error, create_key, register

DOC = Path(__file__).resolve().parents[2] / "docs" / "notification-api.md"
PATH = "/api/services/notifications"


def _client_function() -> Any:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.DOTALL)
    [source] = [block for block in blocks if "def signed_request(" in block]
    namespace: dict[str, Any] = {}
    exec(compile(source, str(DOC), "exec"), namespace)
    return namespace["signed_request"]


def test_the_worked_example_is_what_the_server_computes() -> None:
    text = DOC.read_text()
    body = json.dumps(
        {
            "channel": "email",
            "recipient": "lee@example.com",
            "subject": "Hello",
            "body": "Your order has shipped.",
        },
        separators=(",", ":"),
    ).encode()
    query = "key=3f2a9c0d&nonce=q8Xr2mVb7Lc0Tz4nWd1Ke5Ua&timestamp=1700000000"
    assert body.decode() in text
    assert canonical_request("POST", PATH, query, body) in text
    assert f"secret: {sign_v2('s3cret', 'POST', PATH, query, body)}" in text
    listing = "key=3f2a9c0d&nonce=Hn3kP0wqZ7yR1sT4uV6xB9cD&page=2&status=sent&timestamp=1700000000"
    assert f"`{sign_v2('s3cret', 'GET', PATH, listing, b'')}`" in text


@pytest.mark.e2e
async def test_the_documented_client_works(client: httpx.AsyncClient) -> None:
    signed_request = _client_function()
    key = await create_key(client, await register(client))
    body = json.dumps(
        {"channel": "email", "recipient": "lee@example.com", "subject": "Hé", "body": "Shipped."}
    ).encode()
    url, headers = signed_request(key["access_key"], key["secret_key"], "POST", PATH, body=body)
    headers = {**headers, "Content-Type": "application/json"}
    queued = await client.post(url, content=body, headers=headers)
    assert queued.status_code == 202, queued.text
    assert_error(await client.post(url, content=body, headers=headers), 401, "4010021")
    url, headers = signed_request(
        key["access_key"], key["secret_key"], "GET", PATH, {"channel": "email", "per_page": 5}
    )
    listed = await client.get(url, headers=headers)
    assert listed.status_code == 200 and listed.json()["total"] == 1, listed.text
    url, headers = signed_request(
        key["access_key"], key["secret_key"], "GET", f"{PATH}/{queued.json()['id']}"
    )
    assert (await client.get(url, headers=headers)).status_code == 200
