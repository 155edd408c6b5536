"""The hand-written app: the Notification API's two benchmarked endpoints in plain SQLAlchemy.

Written as an expert would write them without sqlrecord: one ``AsyncSession`` per
request from a dependency (``expire_on_commit=False``), ``session.get`` by primary
key, ``select`` for the rest, one explicit commit. Everything that is not sqlrecord is
the service's own code, imported rather than copied, so that the two apps differ only
in the data layer: the settings, JWT reading, the V2 signature's canonical text and
HMAC, the secrets' decryption, the client address, the rate limits, schemas, errors
and the access-log, body-limit and methods middleware of ``notification_api``.

The security checks are the service's (issue 16), in the service's order: the token's
key is compared with the account's; a signed request is checked under scheme
``NAPI-HMAC-SHA256-V2`` (method, path, canonical query, body hash) with the secret
decrypted from its ``fernet:`` column, and its nonce is spent once in
``request_nonces``, in a transaction of its own committed before the request goes on,
as the service's database nonce store does; the signed call is then counted against
the key's rate limit. Only V2 is implemented (the legacy scheme is the benchmark's
concern only with ``LEGACY_SIGNATURES=true``, which it never sets).

The engine gets what any app on these databases needs, as the SQLAlchemy docs teach
it: on SQLite, foreign keys on, the driver's implicit transactions off and an
explicit ``BEGIN`` (``BEGIN IMMEDIATE`` for a session that writes, else concurrent
writers fail with "database is locked"; sent with the session's first statement, so a
request's own session does not hold the lock while its nonce is spent); on
MySQL/MariaDB, utf8mb4 and a UTC session time zone.
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Annotated, Any
from urllib.parse import parse_qsl

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
from sqlalchemy import delete, event, insert, make_url, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from notification_api.access_log import AccessLogMiddleware
from notification_api.body_limit import BodyLimitMiddleware, BodyLimitStats
from notification_api.client_address import client_address
from notification_api.errors import (
    AccessKeyNotFoundError,
    APIError,
    IPNotAllowedError,
    NonceReusedError,
    NotAuthorizedError,
    QueryStringError,
    SignatureError,
    SignatureSchemeError,
    TimestampError,
    error_body,
)
from notification_api.methods import MethodsMiddleware
from notification_api.ratelimit import RateLimits
from notification_api.schemas import NotificationCreate, NotificationQueued, UserOut
from notification_api.secrets_at_rest import SecretUnreadableError, secret_box
from notification_api.settings import Settings
from notification_api.signing import NONCE_PATTERN, SCHEME_HEADER, SCHEME_V2, sign_v2
from notification_api.tokens import read_token

from .plain_models import ApiKey, ApiWhitelist, Notification, RequestNonce, User

__all__ = ["create_plain_app", "make_engine"]

_BEGIN_IMMEDIATE = "bench_begin_immediate"
_READS = frozenset({"GET", "HEAD", "OPTIONS"})
#: How often (at most) every expired nonce is deleted: the service's store's interval.
_PRUNE_INTERVAL_SECONDS = 60.0


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
    """One session per request; a writing request's begins with BEGIN IMMEDIATE on SQLite."""
    state = request.app.state
    maker = state.reader if request.method in _READS else state.writer
    async with maker() as session:
        yield session


Session = Annotated[AsyncSession, Depends(get_session)]


async def current_user(request: Request, session: Session, settings: AppSettings) -> User:
    """The user of the ``Authorization: Bearer <jwt>`` header (the service's rules).

    The token's key must be the account's (compared in constant time), as the service
    checks it: a token outlives neither its account nor a change of the key.
    """
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise NotAuthorizedError()
    claims = read_token(settings, token.strip())
    user = await session.get(User, claims.user_id)
    if (
        user is None
        or user.status != "active"
        or not hmac.compare_digest(user.token_key.encode(), claims.token_key.encode())
    ):
        raise NotAuthorizedError("The account of this token no longer exists.")
    request.state.user_id = user.id  # for the access log, as the service does
    request.state.email = user.email
    return user


def _only(pairs: list[tuple[str, str]], name: str) -> str | None:
    values = [value for key, value in pairs if key == name]
    if len(values) > 1:
        raise QueryStringError(f"{name} must appear once in the query string.")
    return values[0] if values else None


def _credentials(query_string: str) -> tuple[str, int, str]:
    """``key``, ``timestamp`` and ``nonce`` of a V2 query string, as the service reads them."""
    pairs = parse_qsl(query_string, keep_blank_values=True)
    access_key, stamp, nonce = _only(pairs, "key"), _only(pairs, "timestamp"), _only(pairs, "nonce")
    if not access_key or stamp is None:
        raise QueryStringError()
    if not (stamp.isascii() and stamp.isdigit() and len(stamp) <= 12):
        raise QueryStringError()
    if nonce is None or not NONCE_PATTERN.fullmatch(nonce):
        raise QueryStringError(
            "nonce must appear once: 16 to 64 characters of A-Z, a-z, 0-9, '-' and '_', "
            "new for every request."
        )
    return access_key, int(stamp), nonce


def _ip_in(client: str, allowed: Sequence[str]) -> bool:
    try:
        address = ipaddress.ip_address(client)
    except ValueError:
        return False
    return any(address == ipaddress.ip_address(entry) for entry in allowed)


async def _verify_and_spend_nonce(
    request: Request, settings: Settings, access_key: str, sent_at: int, nonce: str, body: bytes
) -> int:
    """Key, signature, whitelist and the nonce, in one transaction of its own; the key's id.

    Committed before the request goes on, as the service does (a GET's session never
    commits; on SQLite the request's own session must not hold the lock meanwhile).
    Expired nonces are deleted as the service's store deletes them: all of them at most
    once a minute, else this nonce's expired row only.
    """
    state = request.app.state
    async with state.writer() as session, session.begin():
        api_key = await session.scalar(select(ApiKey).where(ApiKey.access_key == access_key))
        if api_key is None or api_key.status != "active":
            raise AccessKeyNotFoundError()
        try:
            secret_key = secret_box(settings).reveal(api_key.secret_key)
        except SecretUnreadableError:
            raise SignatureError() from None
        query_string = request.scope["query_string"].decode("latin-1")
        expected = sign_v2(secret_key, request.method, request.scope["path"], query_string, body)
        given = (request.headers.get("secret") or "").encode()
        if not hmac.compare_digest(given, expected.encode()):
            raise SignatureError()
        allowed = (
            await session.scalars(
                select(ApiWhitelist.ip_addr).where(ApiWhitelist.api_key_id == api_key.id)
            )
        ).all()
        client = client_address(request, settings.trusted_proxies)
        if allowed and not _ip_in(client, allowed):
            raise IPNotAllowedError(client)
        now = int(time.time())
        expired = RequestNonce.expires_at < now
        if time.monotonic() - state.last_nonce_prune > _PRUNE_INTERVAL_SECONDS:
            state.last_nonce_prune = time.monotonic()
        else:
            expired &= (RequestNonce.api_key_id == api_key.id) & (RequestNonce.nonce == nonce)
        await session.execute(
            delete(RequestNonce).where(expired).execution_options(synchronize_session=False)
        )
        try:
            await session.execute(
                insert(RequestNonce).values(
                    api_key_id=api_key.id,
                    nonce=nonce,
                    expires_at=sent_at + settings.timestamp_window_seconds + 1,
                )
            )
        except IntegrityError:  # the unique (api_key_id, nonce): a replay
            raise NonceReusedError() from None
        return api_key.id


async def signed_key(
    request: Request,
    session: Session,
    settings: AppSettings,
    key: Annotated[str | None, Query()] = None,
    timestamp: Annotated[str | None, Query()] = None,
    nonce: Annotated[str | None, Query()] = None,
    secret: Annotated[str | None, Header()] = None,
    signature_scheme: Annotated[str | None, Header(alias=SCHEME_HEADER)] = None,
) -> ApiKey:
    """The active key of a signed request: the service's checks, in the service's order
    (scheme, query, timestamp, key, signature, whitelist, nonce), then the key read again
    in the request's session (it may have been stopped meanwhile)."""
    if signature_scheme is None or signature_scheme.strip().upper() != SCHEME_V2:
        raise SignatureSchemeError(signature_scheme)
    query_string = request.scope["query_string"].decode("latin-1")
    access_key, sent_at, spent = _credentials(query_string)
    if abs(time.time() - sent_at) > settings.timestamp_window_seconds:
        raise TimestampError(settings.timestamp_window_seconds)
    body = await request.body()
    key_id = await _verify_and_spend_nonce(request, settings, access_key, sent_at, spent, body)
    api_key = await session.get(ApiKey, key_id)
    if api_key is None or api_key.status != "active":
        raise AccessKeyNotFoundError()
    request.state.user_id = api_key.user_id
    return api_key


async def limited_key(request: Request, api_key: Annotated[ApiKey, Depends(signed_key)]) -> ApiKey:
    """Count the signed call against its key's limit once the signature is valid (429 beyond)."""
    rate_limits: RateLimits = request.app.state.rate_limits
    await rate_limits.hit("signed", api_key.access_key)
    return api_key


CurrentUser = Annotated[User, Depends(current_user)]
SignedKey = Annotated[ApiKey, Depends(limited_key)]


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

    rate_limits = RateLimits(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        await rate_limits.aclose()
        await engine.dispose()

    app = FastAPI(title="Notification API (hand-written SQLAlchemy)", lifespan=lifespan)
    app.state.settings = settings
    app.state.reader = async_sessionmaker(engine, expire_on_commit=False)
    writing = engine
    if engine.dialect.name == "sqlite":
        writing = engine.execution_options(**{_BEGIN_IMMEDIATE: True})
    app.state.writer = async_sessionmaker(writing, expire_on_commit=False)
    app.state.rate_limits = rate_limits
    app.state.last_nonce_prune = 0.0
    # Stands in for the service's DeliveryWorker.wake (the worker is off in the benchmark).
    app.state.wake = asyncio.Event()
    app.add_exception_handler(APIError, _api_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    # The service's middleware, in the service's order (the access log outermost).
    app.add_middleware(MethodsMiddleware, router=app.router)
    app.add_middleware(
        BodyLimitMiddleware, max_bytes=settings.max_body_bytes, stats=BodyLimitStats()
    )
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
