"""The request's session found from the request (``request_session``), its commit
modes, and two apps with two databases sharing one set of models in one process."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated

import httpx
import pytest
from fastapi import APIRouter, Depends, FastAPI, HTTPException
from sqlalchemy import String
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from sqlrecord import CRUDMixin, Database
from sqlrecord.exceptions import ConfigurationError
from sqlrecord.fastapi import RequestSession, database_of, request_session

from .helpers import asgi_client, count_rows, fetch_column
from .models import User


@pytest.mark.parametrize(
    ("commit", "method", "kept"),
    [
        ("never", "POST", 0),
        ("on_success", "POST", 1),
        ("on_success", "GET", 1),
        ("unsafe_methods", "POST", 1),
        ("unsafe_methods", "PATCH", 1),
        ("unsafe_methods", "GET", 0),  # a safe method's session ends without a COMMIT
    ],
)
async def test_commit_modes(db: Database, commit: str, method: str, kept: int) -> None:
    app = FastAPI()
    db.init_app(app)
    router = APIRouter(dependencies=[request_session(commit=commit)])  # type: ignore[arg-type]

    @router.api_route("/write", methods=[method])
    async def write() -> None:
        await User.create(email="written@example.com")

    app.include_router(router)
    async with asgi_client(app) as client:
        assert (await client.request(method, "/write")).status_code == 200
    assert await count_rows(db, User) == kept


async def test_a_failed_route_or_commit_keeps_nothing(db: Database) -> None:
    app = FastAPI()
    db.init_app(app)

    @app.post("/fail")
    async def fail(session: RequestSession) -> None:
        await User.create(email="one@example.com")
        raise HTTPException(status_code=400, detail="refused")

    @app.post("/duplicate")
    async def duplicate(session: RequestSession) -> None:
        await User.create(email="dup@example.com")
        # Added without a flush: the duplicate is found at COMMIT, after the route.
        session.add(User(email="dup@example.com"))

    async with asgi_client(app) as client:
        assert (await client.post("/fail")).status_code == 400
        response = await client.post("/duplicate")
    assert response.status_code == 409  # the COMMIT's error, answered before the response
    assert await count_rows(db, User) == 0


Writes = Annotated[AsyncSession, request_session(commit="unsafe_methods")]


async def _audit(session: Writes) -> AsyncSession:
    return session


async def test_one_session_per_request_however_many_ask(db: Database) -> None:
    """The router's dependency, the route's parameter and a sub-dependency all get
    the same session (FastAPI's per-request cache: one callable per mode)."""
    app = FastAPI()
    db.init_app(app)
    router = APIRouter(dependencies=[request_session(commit="unsafe_methods")])

    @router.post("/same")
    async def same(
        session: Writes, seen_by_audit: Annotated[AsyncSession, Depends(_audit)]
    ) -> bool:
        return session is seen_by_audit and db.current_session() is session

    app.include_router(router)
    async with asgi_client(app) as client:
        assert (await client.post("/same")).json() is True


async def test_a_bad_commit_mode_is_refused_at_declaration() -> None:
    with pytest.raises(ConfigurationError, match="on_success"):
        request_session(commit="sometimes")  # type: ignore[arg-type]


async def test_an_app_without_a_database_says_what_to_do() -> None:
    app = FastAPI()

    @app.get("/which")
    async def which(session: RequestSession) -> None:
        pass

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.get("/which")
    assert response.status_code == 500
    from fastapi import Request
    from starlette.requests import Request as StarletteRequest

    request = StarletteRequest({"type": "http", "app": app, "method": "GET", "path": "/",
                                "headers": [], "query_string": b""})  # fmt: skip
    assert isinstance(request, Request)
    with pytest.raises(ConfigurationError, match=r"db\.init_app\(app\)"):
        database_of(request)


# -- two apps, two databases, one set of models --------------------------------------


class _SharedBase(DeclarativeBase):
    pass


class Visit(CRUDMixin, _SharedBase):
    """A model that names no database: it works in the app's."""

    __tablename__ = "test_shared_visits"
    id: Mapped[int] = mapped_column(primary_key=True)
    who: Mapped[str] = mapped_column(String(40))


def _visits_app(database: Database, name: str, started: list[str]) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with database.lifespan(app):
            # A task started by the lifespan (a worker) works in the app's database too.
            await asyncio.create_task(Visit.create(who=f"{name}'s worker"))
            started.append(name)
            yield

    app = FastAPI(lifespan=lifespan)
    database.init_app(app)

    @app.post("/visits/{who}")
    async def visit(who: str, session: RequestSession) -> str:
        await asyncio.sleep(0)  # let the other app's request run in between
        await Visit.create(who=who)
        return str(database_of_request_is(database))

    @app.post("/own/{who}")
    async def own(who: str) -> None:  # no request session: the call's own
        await asyncio.sleep(0)
        await Visit.create(who=who)

    return app


def database_of_request_is(database: Database) -> bool:
    from sqlrecord._registry import database_for

    return database_for(Visit) is database


async def test_two_apps_with_two_databases_share_the_models(db: Database, tmp_path: Path) -> None:
    other = Database(f"sqlite+aiosqlite:///{tmp_path}/other.db", default=False)
    for database in (db, other):
        async with database.engine.begin() as connection:
            await connection.run_sync(_SharedBase.metadata.drop_all)
            await connection.run_sync(_SharedBase.metadata.create_all)
    started: list[str] = []
    first, second = _visits_app(db, "first", started), _visits_app(other, "second", started)
    try:
        async with (
            first.router.lifespan_context(first),
            second.router.lifespan_context(second),
            asgi_client(first) as first_client,
            asgi_client(second) as second_client,
        ):
            answers = await asyncio.gather(
                *(
                    client.post(f"/{kind}/{who}-{n}")
                    for n in range(5)
                    for kind in ("visits", "own")
                    for client, who in ((first_client, "a"), (second_client, "b"))
                )
            )
            assert {answer.status_code for answer in answers} == {200}
            assert started == ["first", "second"]
        in_first = sorted(await fetch_column(db, Visit, "who"))
        assert in_first == sorted(["first's worker", *[f"a-{n}" for n in range(5)] * 2])
        async with other.engine.connect() as connection:
            from sqlalchemy import select

            in_second = sorted((await connection.execute(select(Visit.who))).scalars())
        assert in_second == sorted(["second's worker", *[f"b-{n}" for n in range(5)] * 2])
        assert other.checked_out() == 0  # type: ignore[attr-defined]
    finally:
        async with db.engine.begin() as connection:
            await connection.run_sync(_SharedBase.metadata.drop_all)
        await other.dispose()


async def test_a_mounted_app_uses_the_outer_apps_database(db: Database) -> None:
    outer, inner = FastAPI(), FastAPI()
    db.init_app(outer)

    @inner.post("/visits")
    async def visit(session: RequestSession) -> bool:
        return database_of_request_is(db) and db.current_session() is session

    outer.mount("/inner", inner)
    async with asgi_client(outer) as client:
        assert (await client.post("/inner/visits")).json() is True


async def test_as_default_binds_models_for_a_script(db: Database, tmp_path: Path) -> None:
    other = Database(f"sqlite+aiosqlite:///{tmp_path}/script.db", default=False)
    try:
        with other.as_default():
            await other.create_all(_SharedBase.metadata)
            await Visit.create(who="script")
            assert [visit.who for visit in await Visit.all()] == ["script"]
        assert database_of_request_is(other) is False
    finally:
        await other.dispose()
