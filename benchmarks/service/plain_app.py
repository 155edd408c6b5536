"""The hand-written app: the Notification API's two benchmarked endpoints in plain SQLAlchemy.

Written as an expert would write them without sqlrecord: one ``AsyncSession`` per
request from a dependency (``expire_on_commit=False``), ``session.get`` by primary
key, ``select`` for the rest, one explicit commit. Everything that is not sqlrecord is
the service's own code, imported rather than copied, so that the two apps differ only
in the data layer: the settings, JWT reading, request signing, schemas, errors and
access-log middleware of ``notification_api``.

The engine gets what any app on these databases needs, as the SQLAlchemy docs teach
it: on SQLite, foreign keys on, the driver's implicit transactions off and an
explicit ``BEGIN`` (``BEGIN IMMEDIATE`` for a request that writes, else concurrent
writers fail with "database is locked"); on MySQL/MariaDB, utf8mb4 and a UTC
session time zone.
"""

from __future__ import annotations

import asyncio
import hmac
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import (
    APIRouter,
    BackgroundTasks,
    Depends,
    FastAPI,
    Header,
    HTTPException,
    Query,
    Request,
)
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from sqlalchemy import event, make_url, select
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from notification_api.access_log import AccessLogMiddleware
from notification_api.errors import (
    AccessKeyNotFoundError,
    APIError,
    IPNotAllowedError,
    NotAuthorizedError,
    SignatureError,
    TimestampError,
    error_body,
)
from notification_api.schemas import NotificationCreate, NotificationQueued, UserOut
from notification_api.settings import Settings

# The service's own request check, byte for byte: parsing the raw query string and
# matching the client address are not sqlrecord's, so both apps run the same code.
from notification_api.signing import _ip_in, _key_and_timestamp, sign
from notification_api.tokens import read_token

from .plain_models import ApiKey, ApiWhitelist, Notification, User

__all__ = ["create_plain_app", "make_engine"]

_BEGIN_IMMEDIATE = "bench_begin_immediate"
_READS = frozenset({"GET", "HEAD", "OPTIONS"})


def make_engine(settings: Settings) -> AsyncEngine:
    """The engine for ``settings.db_url``, with the service's pool settings."""
    url = make_url(settings.db_url)
    backend = url.get_backend_name()
    options: dict[str, Any] = {
        "echo": settings.db_echo,
        "pool_recycle": settings.pool_recycle,
        "pool_pre_ping": settings.pool_pre_ping,
    }
    if backend == "sqlite":
        options["connect_args"] = {"timeout": 30}  # a writer waits for the lock
    if backend in ("mysql", "mariadb") and "charset" not in url.query:
        url = url.update_query_dict({"charset": "utf8mb4"})
    engine = create_async_engine(url, **options)
    if backend == "sqlite":

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        @event.listens_for(engine.sync_engine, "begin")
        def _sqlite_begin(connection: Any) -> None:
            immediate = connection.get_execution_options().get(_BEGIN_IMMEDIATE)
            connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    elif backend in ("mysql", "mariadb"):

        @event.listens_for(engine.sync_engine, "connect")
        def _mysql_connect(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("SET time_zone = '+00:00'")
            cursor.close()

    return engine


# -- dependencies ---------------------------------------------------------------------


def app_settings(request: Request) -> Settings:
    """The running app's settings."""
    settings: Settings = request.app.state.settings
    return settings


AppSettings = Annotated[Settings, Depends(app_settings)]


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One session per request; a writing request on SQLite takes the write lock first."""
    async with request.app.state.sessionmaker() as session:
        if request.method not in _READS and request.app.state.sqlite:
            await session.connection(execution_options={_BEGIN_IMMEDIATE: True})
        yield session


Session = Annotated[AsyncSession, Depends(get_session)]


async def current_user(request: Request, session: Session, settings: AppSettings) -> User:
    """The user of the ``Authorization: Bearer <jwt>`` header (the service's rules)."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise NotAuthorizedError()
    user = await session.get(User, read_token(settings, token.strip()))
    if user is None or user.status != "active":
        raise NotAuthorizedError("The account of this token no longer exists.")
    request.state.user_id = user.id  # for the access log, as the service does
    request.state.email = user.email
    return user


async def signed_key(
    request: Request,
    session: Session,
    settings: AppSettings,
    key: Annotated[str | None, Query()] = None,
    timestamp: Annotated[str | None, Query()] = None,
    secret: Annotated[str | None, Header()] = None,
) -> ApiKey:
    """The active key of a signed request: the service's checks, in the service's order."""
    query_string = request.scope["query_string"].decode("latin-1")
    access_key, sent_at = _key_and_timestamp(query_string)
    if abs(time.time() - sent_at) > settings.timestamp_window_seconds:
        raise TimestampError(settings.timestamp_window_seconds)
    api_key = await session.scalar(select(ApiKey).where(ApiKey.access_key == access_key))
    if api_key is None or api_key.status != "active":
        raise AccessKeyNotFoundError()
    given = secret or ""
    if not hmac.compare_digest(given.encode(), sign(api_key.secret_key, query_string).encode()):
        raise SignatureError()
    allowed = (
        await session.scalars(
            select(ApiWhitelist.ip_addr).where(ApiWhitelist.api_key_id == api_key.id)
        )
    ).all()
    client = request.client.host if request.client else ""
    if allowed and not _ip_in(client, allowed):
        raise IPNotAllowedError(client)
    request.state.user_id = api_key.user_id
    return api_key


CurrentUser = Annotated[User, Depends(current_user)]
SignedKey = Annotated[ApiKey, Depends(signed_key)]


# -- the app --------------------------------------------------------------------------


async def _api_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, APIError)
    return JSONResponse(error.body(), status_code=error.status)


async def _validation_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    problems = [
        f"{'.'.join(str(part) for part in problem['loc'])}: {problem['msg']}"
        for problem in error.errors()
    ]
    body = error_body(422, "4220001", "VALIDATION_ERROR", "; ".join(problems))
    return JSONResponse(body, status_code=422)


def create_plain_app(settings: Settings | None = None) -> FastAPI:
    """The hand-written app for ``settings`` (default: from the environment, like the service)."""
    settings = settings or Settings()
    engine = make_engine(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        await engine.dispose()

    app = FastAPI(title="Notification API (hand-written SQLAlchemy)", lifespan=lifespan)
    app.state.settings = settings
    app.state.sessionmaker = async_sessionmaker(engine, expire_on_commit=False)
    app.state.sqlite = engine.dialect.name == "sqlite"
    # Stands in for the service's DeliveryWorker.wake (the worker is off in the benchmark).
    app.state.wake = asyncio.Event()
    app.add_exception_handler(APIError, _api_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_middleware(AccessLogMiddleware)

    async def read_me(user: CurrentUser) -> UserOut:
        """The account behind the token."""
        return UserOut.model_validate(user)

    async def queue_notification(
        body: NotificationCreate,
        api_key: SignedKey,
        session: Session,
        request: Request,
        background: BackgroundTasks,
    ) -> NotificationQueued:
        """Queue a message: one INSERT, committed before the answer."""
        notification = Notification(
            **body.model_dump(), user_id=api_key.user_id, api_key_id=api_key.id
        )
        session.add(notification)
        await session.commit()
        background.add_task(request.app.state.wake.set)
        return NotificationQueued(id=notification.id, status=notification.status)

    handlers = {
        ("GET", "/api/users/me"): read_me,
        ("POST", "/api/services/notifications"): queue_notification,
    }
    for router in _mirrored_routers(handlers):
        app.include_router(router)
    return app


async def _not_benchmarked() -> None:
    """Stands in for a route of the service that the benchmark never calls."""
    raise HTTPException(status_code=501, detail="Not part of the hand-written app.")


def _mirrored_routers(handlers: dict[tuple[str, str], Callable[..., Any]]) -> list[APIRouter]:
    """The service's route table, router for router and route for route (same prefixes,
    paths, methods, order): ``handlers`` serve their ``(method, path)``, a 501 stub the
    rest. Finding the route costs FastAPI more the more routes and included routers it
    walks first (``POST /api/services/notifications`` comes 14th of 16, in the sixth
    router); with the same table that cost is the same in both apps, and the benchmark
    compares what it should, the handlers and their data layer."""
    from notification_api.routers import ROUTERS

    mirrors: list[APIRouter] = []
    served: set[tuple[str, str]] = set()
    for source in ROUTERS:
        mirror = APIRouter(prefix=source.prefix)
        for route in source.routes:
            assert isinstance(route, APIRoute)
            (method,) = route.methods
            handler = handlers.get((method, route.path))
            if handler is not None:
                served.add((method, route.path))
            mirror.add_api_route(
                route.path.removeprefix(source.prefix),
                handler or _not_benchmarked,
                methods=[method],
                status_code=route.status_code,
                include_in_schema=handler is not None,
            )
        mirrors.append(mirror)
    assert served == handlers.keys(), "the service's route table no longer has these routes"
    return mirrors
