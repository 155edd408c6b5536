"""The app factory: settings → database → migrations → worker → routes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from .access_log import AccessLogMiddleware
from .body_limit import BodyLimitMiddleware, BodyLimitStats
from .channels import EmailChannel, WebhookChannel
from .database import make_database
from .handlers import install_error_handlers
from .methods import MethodsMiddleware
from .migrate import upgrade_to_head
from .nonces import make_nonce_store
from .openapi import install_docs
from .passwords import configure_hashing
from .ratelimit import RateLimits
from .routers import ROUTERS
from .secrets_at_rest import encrypt_stored_secrets, secret_box
from .settings import Settings
from .worker import DeliveryWorker

__all__ = ["create_app"]


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the Notification API for ``settings`` (default: from the environment).

    The lifespan applies the migrations (``MIGRATE_ON_START``), encrypts any
    API secret still stored in plain text, starts the delivery worker
    (``WORKER_ENABLED``), and at shutdown stops the worker, closes the webhook
    client, the nonce store and the rate limits' storage, and disposes of the
    database's pool.

    Example:
        >>> app = create_app(Settings(api_env="test", db_url="sqlite+aiosqlite://",
        ...                           jwt_secret="s" * 32))
        >>> app.title
        'Notification API'
    """
    settings = settings or Settings()
    configure_hashing(settings.password_hash_time_cost, settings.password_hash_memory_kib)
    database = make_database(settings)
    webhooks = WebhookChannel(settings)
    rate_limits = RateLimits(settings)
    worker = DeliveryWorker(
        database, settings, channels={"email": EmailChannel(settings), "webhook": webhooks}
    )
    nonce_store = make_nonce_store(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # The database's part is outermost: its pool is disposed after the worker stopped.
        async with database.lifespan(app):
            try:
                if settings.migrate_on_start:
                    await upgrade_to_head(database)
                # Secrets written by a version that stored them in clear: encrypted now.
                await encrypt_stored_secrets(database, secret_box(settings), rotate=False)
                if settings.worker_enabled:
                    worker.start()
                yield
            finally:
                await worker.stop()
                await webhooks.aclose()
                await app.state.nonce_store.aclose()
                await rate_limits.aclose()

    app = FastAPI(
        title="Notification API",
        summary="A multi-tenant notification gateway, the reference service of sqlrecord.",
        version="0.1.0",
        lifespan=lifespan,
        # FastAPI's pages load their scripts from a CDN: install_docs serves local copies.
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.worker = worker
    app.state.nonce_store = nonce_store
    app.state.rate_limits = rate_limits
    # The app's database for requests, its lifespan and the worker; the error handlers
    # are the service's (install_error_handlers shapes sqlrecord's answers its way).
    database.init_app(app, error_handlers=False)
    install_error_handlers(app)
    # Inside the access log: its 405s and OPTIONS answers are logged too.
    app.add_middleware(MethodsMiddleware, router=app.router)
    # Inside the access log (which then logs the 413s), outside everything that reads a body.
    app.state.body_limit = BodyLimitStats()
    app.add_middleware(
        BodyLimitMiddleware, max_bytes=settings.max_body_bytes, stats=app.state.body_limit
    )
    app.add_middleware(AccessLogMiddleware)
    for router in ROUTERS:
        app.include_router(router)
    install_docs(app)
    return app
