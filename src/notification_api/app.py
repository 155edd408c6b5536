"""The app factory: settings → database → migrations → worker → routes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from .access_log import AccessLogMiddleware
from .channels import EmailChannel, WebhookChannel
from .database import bind_database, make_database
from .handlers import install_error_handlers
from .migrate import upgrade_to_head
from .ratelimit import RateLimits
from .routers import ROUTERS
from .settings import Settings
from .worker import DeliveryWorker

__all__ = ["create_app"]


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the Notification API for ``settings`` (default: from the environment).

    The lifespan applies the migrations (``MIGRATE_ON_START``), starts the
    delivery worker (``WORKER_ENABLED``), and at shutdown stops the worker,
    closes the webhook client and the rate limits' storage, and disposes of
    the database's pool.

    Example:
        >>> app = create_app(Settings(api_env="test", db_url="sqlite+aiosqlite://",
        ...                           jwt_secret="s" * 32))
        >>> app.title
        'Notification API'
    """
    settings = settings or Settings()
    database = make_database(settings)
    bind_database(database)
    webhooks = WebhookChannel(settings)
    rate_limits = RateLimits(settings)
    worker = DeliveryWorker(
        database, settings, channels={"email": EmailChannel(settings), "webhook": webhooks}
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            if settings.migrate_on_start:
                await upgrade_to_head(database)
            if settings.worker_enabled:
                worker.start()
            yield
        finally:
            await worker.stop()
            await webhooks.aclose()
            await rate_limits.aclose()

    app = FastAPI(
        title="Notification API",
        summary="A multi-tenant notification gateway, the reference service of sqlrecord.",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.database = database
    app.state.worker = worker
    app.state.rate_limits = rate_limits
    # Wrapped around the lifespan above: the pool is disposed after the worker stopped.
    database.init_app(app)
    install_error_handlers(app)
    app.add_middleware(AccessLogMiddleware)
    for router in ROUTERS:
        app.include_router(router)
    return app
