"""FastAPI integration: the request session dependency, its rollback, the lifespan."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from fastapi import Depends, FastAPI, HTTPException
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from sqlrecord import CRUDMixin, Database
from sqlrecord.exceptions import ConfigurationError, DuplicateKeyError

from .helpers import asgi_client, count_rows, fetch_column, slow_sql
from .models import User


def _app(db: Database) -> FastAPI:
    app = FastAPI()

    @app.post("/two-then-fail")
    async def two_then_fail(session: AsyncSession = Depends(db.session)) -> None:
        await User.create(email="one@example.com")
        await User.create(email="two@example.com")
        assert db.current_session() is session
        raise HTTPException(status_code=409, detail="refused")

    @app.post("/commit")
    async def commit(session: AsyncSession = Depends(db.session)) -> dict[str, int]:
        user = await User.create(email="committed@example.com")
        await session.commit()
        return {"id": user.id}

    @app.post("/auto")
    async def auto(
        session: AsyncSession = Depends(db.committing_session, scope="function"),
    ) -> dict[str, str]:
        user = await User.create(email="auto@example.com")
        user.name = "set in route"
        await user.save()
        return {"email": user.email}

    @app.post("/duplicate")
    async def duplicate(
        session: AsyncSession = Depends(db.committing_session, scope="function"),
    ) -> None:
        await User.create(email="auto@example.com")

    @app.exception_handler(DuplicateKeyError)
    async def conflict(request: object, error: DuplicateKeyError) -> object:
        from fastapi.responses import JSONResponse

        return JSONResponse({"detail": error.detail}, status_code=409)

    return app


@pytest.fixture
async def client(db: Database) -> AsyncIterator[httpx.AsyncClient]:
    async with asgi_client(_app(db)) as client:
        yield client


async def test_failed_route_leaves_no_row(db: Database, client: httpx.AsyncClient) -> None:
    response = await client.post("/two-then-fail")
    assert response.status_code == 409
    assert await count_rows(db, User) == 0


async def test_route_commits_explicitly(db: Database, client: httpx.AsyncClient) -> None:
    response = await client.post("/commit")
    assert response.status_code == 200
    assert await fetch_column(db, User, "id") == [response.json()["id"]]


async def test_committing_session(db: Database, client: httpx.AsyncClient) -> None:
    response = await client.post("/auto")
    assert response.json() == {"email": "auto@example.com"}
    assert await fetch_column(db, User, "name") == ["set in route"]
    duplicate = await client.post("/duplicate")
    assert duplicate.status_code == 409
    assert "already exists" in duplicate.json()["detail"]
    assert await count_rows(db, User) == 1


async def test_lifespan_creates_tables_and_disposes(tmp_path: Path) -> None:
    database = Database(default=False)
    app = FastAPI(lifespan=database.lifespan)

    class LifespanBase(DeclarativeBase):
        pass

    class Thing(CRUDMixin, LifespanBase):
        __tablename__ = "lifespan_things"
        __database__ = database
        id: Mapped[int] = mapped_column(primary_key=True)

    database.init_app(app, f"sqlite+aiosqlite:///{tmp_path}/lifespan.db", create_all=True)
    with pytest.raises(ConfigurationError, match="already registered"):
        database.init_app(app)
    async with app.router.lifespan_context(app):
        thing = await Thing.create()
        assert await Thing.get(thing.id) is not None
        assert database.engine.pool.checkedin() == 1  # type: ignore[attr-defined]
    # Shutdown disposed the pool: no connection is left open or checked out.
    assert database.engine.pool.checkedin() == 0  # type: ignore[attr-defined]
    assert database.checked_out() == 0  # type: ignore[attr-defined]


async def test_lifespan_composes_with_the_apps_own(db: Database) -> None:
    """The app's own start-up runs with the pool open, and its shut-down (a worker
    that writes a last row, say) ends before the pool is disposed."""
    steps: list[str] = []

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with db.lifespan(app):
            steps.append(f"started with {await User.count()} users")
            yield
            await User.create(email="written-at-shutdown@example.com")  # its own session
            steps.append("stopped")

    app = FastAPI(lifespan=lifespan)
    db.init_app(app)
    async with app.router.lifespan_context(app):
        steps.append("serving")
    assert steps == ["started with 0 users", "serving", "stopped"]
    assert await fetch_column(db, User, "email") == ["written-at-shutdown@example.com"]


async def test_serving_without_the_lifespan_is_logged(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    app = FastAPI()
    db.init_app(app)

    @app.get("/count")
    async def count() -> int:
        return await User.count()

    async with asgi_client(app) as client:
        with caplog.at_level(logging.WARNING, logger="sqlrecord"):
            assert (await client.get("/count")).json() == 0
            assert (await client.get("/count")).json() == 0
    warnings = [r.getMessage() for r in caplog.records if "without its lifespan" in r.getMessage()]
    assert len(warnings) == 1  # once per app, not per request
    assert "lifespan=db.lifespan" in warnings[0]


async def test_unexpected_error_rolls_back_and_reaches_the_app(db: Database) -> None:
    app = FastAPI()

    @app.post("/crash")
    async def crash(session: AsyncSession = Depends(db.session)) -> None:
        await User.create(email="crash@example.com")
        raise RuntimeError("handler bug")

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.post("/crash")
    assert response.status_code == 500
    assert await count_rows(db, User) == 0


@pytest.mark.parametrize("dependency", ["session", "committing_session"])
async def test_a_request_cancelled_mid_statement_keeps_nothing(
    db: Database, dependency: str
) -> None:
    """A request task cancelled while its statement runs (a client gone, a request
    timeout): its writes are dropped, its connection is not returned half-used, and
    the next request is served at once."""
    app = FastAPI()
    slow = text(slow_sql(db.engine.dialect.name))
    session_dependency = getattr(db, dependency)

    @app.post("/slow")
    async def handler(
        session: AsyncSession = Depends(session_dependency, scope="function"),
    ) -> None:
        await User.create(email="cancelled@example.com")
        await session.execute(slow)

    @app.post("/quick")
    async def quick(
        session: AsyncSession = Depends(db.committing_session, scope="function"),
    ) -> None:
        await User.create(email="next@example.com")

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.2):
                await client.post("/slow")
        assert db.checked_out() == 0  # type: ignore[attr-defined]
        async with asyncio.timeout(5):
            assert (await client.post("/quick")).status_code == 200
    assert await fetch_column(db, User, "email") == ["next@example.com"]
