"""Issue 16, finding 3: a token outlives neither its account nor its account's id.

The attack, as reported on SQLite: Alice deletes her account, Bob registers and
gets the freed id, and Alice's token reads and writes Bob's account. Two
defences, each tested on its own: ids are never handed out twice (SQLite
tables have ``AUTOINCREMENT``), and a token carries its account's random token
key, so it fails once the account is gone even if a later account has the
same id (forced here behind the API's back, as the old SQLite did on its own).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute
from sqlalchemy import text

from notification_api import Settings
from notification_api.database import make_database
from notification_api.deps import current_user
from notification_api.migrate import upgrade_to, upgrade_to_head
from notification_api.routers import ROUTERS

from .api import assert_error, create_key, register, signed, unique_email
from .conftest import Service

pytestmark = pytest.mark.e2e

PASSWORD = "pw-123456"
NOTE = {"channel": "email", "recipient": "kim@example.com", "subject": "Hi", "body": "Hello"}


async def rows(service: Service, sql: str, **params: Any) -> list[dict[str, Any]]:
    """Rows read straight from the service's database, behind the API's back."""
    async with service.database.engine.connect() as connection:
        result = await connection.execute(text(sql), params)
        return [dict(row._mapping) for row in result]


async def execute(service: Service, sql: str, **params: Any) -> None:
    async with service.database.engine.begin() as connection:
        await connection.execute(text(sql), params)


async def me(client: httpx.AsyncClient, auth: dict[str, str]) -> dict[str, Any]:
    response = await client.get("/api/users/me", headers=auth)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def login(client: httpx.AsyncClient, email: str) -> dict[str, str]:
    response = await client.post("/api/auth/login/email", json={"email": email, "pw": PASSWORD})
    assert response.status_code == 200, response.text
    return {"Authorization": response.json()["Authorization"]}


async def give_id(service: Service, user_id: int, new_id: int) -> None:
    """Renumber a user that owns nothing yet: the id reuse of the old SQLite, by hand."""
    await execute(service, "UPDATE users SET id = :new WHERE id = :old", new=new_id, old=user_id)


async def test_deleted_accounts_token_cannot_reach_the_next_account(
    client: httpx.AsyncClient, service: Service
) -> None:
    alice_auth = await register(client, unique_email("alice"))
    alice = await me(client, alice_auth)
    assert (await client.delete("/api/users/me", headers=alice_auth)).status_code == 204

    bob_email = unique_email("bob")
    bob_auth = await register(client, bob_email)
    bob = await me(client, bob_auth)
    # The reported case: on SQLite without AUTOINCREMENT Bob got Alice's id.
    assert bob["id"] > alice["id"], (alice["id"], bob["id"])
    assert_error(await client.get("/api/users/me", headers=alice_auth), 401, "4010001")

    # Whatever ids do: Bob is given Alice's id, and her token still fails.
    await give_id(service, bob["id"], alice["id"])
    bob_auth = await login(client, bob_email)
    assert (await me(client, bob_auth))["email"] == bob_email  # the id is Bob's now

    assert_error(await client.get("/api/users/me", headers=alice_auth), 401, "4010001")
    created = await client.post("/api/users/apikeys", json={"user_memo": "x"}, headers=alice_auth)
    assert_error(created, 401, "4010001")
    assert await rows(service, "SELECT id FROM api_keys WHERE user_id = :id", id=alice["id"]) == []

    # A new token key revokes every token issued before it (the same check).
    await execute(service, "UPDATE users SET token_key = 'rotated' WHERE id = :id", id=alice["id"])
    assert_error(await client.get("/api/users/me", headers=bob_auth), 401, "4010001")
    assert (await me(client, await login(client, bob_email)))["id"] == alice["id"]


async def test_ids_are_never_reused(client: httpx.AsyncClient, service: Service) -> None:
    """The newest row of each table is deleted; the next row gets a higher id."""
    first_auth = await register(client)
    first_user = (await me(client, first_auth))["id"]
    key = await create_key(client, first_auth)
    whitelists = f"/api/users/apikeys/{key['id']}/whitelists"
    entry = (
        await client.post(whitelists, json={"ip_addr": "127.0.0.1"}, headers=first_auth)
    ).json()
    queued = await signed(client, "POST", "/api/services/notifications", key, json=NOTE)
    assert queued.status_code == 202, queued.text

    removed = await client.delete(f"{whitelists}/{entry['id']}", headers=first_auth)
    assert removed.status_code == 200, removed.text
    again = await client.post(whitelists, json={"ip_addr": "127.0.0.1"}, headers=first_auth)
    assert again.json()["id"] > entry["id"]

    # Deleting the key takes its whitelist and notifications with it.
    deleted = await client.delete(f"/api/users/apikeys/{key['id']}", headers=first_auth)
    assert deleted.status_code == 200, deleted.text
    second_key = await create_key(client, first_auth)
    assert second_key["id"] > key["id"]
    requeued = await signed(client, "POST", "/api/services/notifications", second_key, json=NOTE)
    assert requeued.json()["id"] > queued.json()["id"]

    assert (await client.delete("/api/users/me", headers=first_auth)).status_code == 204
    assert (await me(client, await register(client)))["id"] > first_user


def _authenticated_routes() -> list[tuple[str, str]]:
    """Every (method, path) whose dependencies include the bearer-token check."""

    def needs_token(dependant: Any) -> bool:
        return any(sub.call is current_user or needs_token(sub) for sub in dependant.dependencies)

    return sorted(
        (method, route.path)
        for router in ROUTERS
        for route in router.routes
        if isinstance(route, APIRoute) and needs_token(route.dependant)
        for method in route.methods
    )


BODIES = {
    ("PATCH", "/api/users/me"): {"name": "taken over"},
    ("POST", "/api/users/apikeys"): {"user_memo": "taken over"},
    ("PATCH", "/api/users/apikeys/{key_id}"): {"user_memo": "taken over", "status": "stopped"},
    ("POST", "/api/users/apikeys/{key_id}/whitelists"): {"ip_addr": "127.0.0.9"},
}


async def test_deleted_accounts_token_is_refused_on_every_route(
    client: httpx.AsyncClient, service: Service
) -> None:
    routes = _authenticated_routes()
    assert len(routes) >= 10, routes  # /me x3, keys x4, whitelists x3

    gone_auth = await register(client, unique_email("gone"))
    gone_id = (await me(client, gone_auth))["id"]
    assert (await client.delete("/api/users/me", headers=gone_auth)).status_code == 204

    # First with the id gone, then with the id taken by a newer account that
    # owns a key and a whitelist entry (the old SQLite's reuse, forced).
    heir_email = unique_email("heir")
    heir_auth = await register(client, heir_email)
    heir_id = (await me(client, heir_auth))["id"]
    for phase in ("id gone", "id reused"):
        if phase == "id reused":
            await give_id(service, heir_id, gone_id)
            heir_auth = await login(client, heir_email)
        key = await create_key(client, heir_auth)
        whitelists = f"/api/users/apikeys/{key['id']}/whitelists"
        entry = await client.post(whitelists, json={"ip_addr": "127.0.0.1"}, headers=heir_auth)
        names = {"key_id": key["id"], "list_id": entry.json()["id"]}
        for method, path in routes:
            url = path.format(**names)
            response = await client.request(
                method, url, json=BODIES.get((method, path)), headers=gone_auth
            )
            assert response.status_code == 401, (phase, method, url, response.text)
            assert_error(response, 401, "4010001")
        # Nothing of the heir's changed.
        heir = await me(client, heir_auth)
        assert (heir["name"], heir["status"]) == (None, "active")
        [stored] = await rows(
            service, "SELECT user_memo, status FROM api_keys WHERE id = :id", id=key["id"]
        )
        assert stored == {"user_memo": "test", "status": "active"}
        assert [
            row["ip_addr"]
            for row in await rows(
                service, "SELECT ip_addr FROM api_whitelists WHERE api_key_id = :id", id=key["id"]
            )
        ] == ["127.0.0.1"]
        deleted = await client.delete(f"/api/users/apikeys/{key['id']}", headers=heir_auth)
        assert deleted.status_code == 200, deleted.text
    await client.delete("/api/users/me", headers=heir_auth)


async def test_upgrade_of_a_filled_sqlite_database_keeps_every_row(tmp_path: Path) -> None:
    """0001 → head on SQLite rebuilds the tables with AUTOINCREMENT and loses no row.

    The rebuild drops each old table; with foreign keys enforced that would run
    the ON DELETE CASCADE of the tables that reference it.
    """
    path = tmp_path / "old.db"
    settings = Settings(api_env="test", db_url=f"sqlite+aiosqlite:///{path}", jwt_secret="s" * 32)
    database = make_database(settings)  # not bound to the models: the service's stays
    try:
        await upgrade_to(database, "0001")
        async with database.engine.begin() as connection:
            for sql in (
                "INSERT INTO users (id, status, email, sns_type, marketing_agree) VALUES "
                "(1, 'active', 'a@example.com', 'email', 0), "
                "(2, 'active', 'b@example.com', 'email', 0), "
                "(3, 'active', 'c@example.com', 'email', 0)",
                "DELETE FROM users WHERE id = 2",
                "INSERT INTO api_keys (id, access_key, secret_key, status, user_id) VALUES "
                "(1, 'ak1', 'sk1', 'active', 1), (2, 'ak3', 'sk3', 'active', 3)",
                "INSERT INTO api_whitelists (ip_addr, api_key_id) VALUES ('127.0.0.1', 1)",
                "INSERT INTO notifications (user_id, api_key_id, channel, recipient, subject, "
                "body, status, attempts) VALUES (3, 2, 'email', 'x@example.com', 's', 'b', "
                "'queued', 0)",
            ):
                await connection.exec_driver_sql(sql)
        await upgrade_to_head(database)
        await upgrade_to_head(database)  # idempotent
        async with database.engine.begin() as connection:
            counts = {
                table: (await connection.exec_driver_sql(f"SELECT COUNT(*) FROM {table}")).scalar()
                for table in ("users", "api_keys", "api_whitelists", "notifications")
            }
            keys = (await connection.exec_driver_sql("SELECT token_key FROM users")).scalars()
            token_keys = list(keys)
            # Foreign keys are enforced again on the pooled connection.
            enforced = (await connection.exec_driver_sql("PRAGMA foreign_keys")).scalar()
            await connection.exec_driver_sql("DELETE FROM users WHERE id = 3")
            left = (await connection.exec_driver_sql("SELECT COUNT(*) FROM api_keys")).scalar()
            await connection.exec_driver_sql(
                "INSERT INTO users (status, email, sns_type, marketing_agree, token_key) "
                "VALUES ('active', 'd@example.com', 'email', 0, 'k')"
            )
            newest = (await connection.exec_driver_sql("SELECT MAX(id) FROM users")).scalar()
    finally:
        await database.dispose()
    assert counts == {"users": 2, "api_keys": 2, "api_whitelists": 1, "notifications": 1}
    assert len(set(token_keys)) == 2 and all(len(key) == 43 for key in token_keys)
    assert enforced == 1 and left == 1
    assert newest == 4  # not 3, the id just deleted
    with sqlite3.connect(path) as connection:
        ddl = dict(connection.execute("SELECT name, sql FROM sqlite_master WHERE type='table'"))
    connection.close()
    assert all("AUTOINCREMENT" in ddl[table] for table in counts), ddl
