"""The API's own documentation: security schemes, the schema, and offline /docs and /redoc.

Security schemes
    ``BearerToken`` (HTTP bearer, a JWT from register/login) protects the user
    routes; the Swagger UI's *Authorize* button takes the token. The signed
    service routes need three things at once, declared as three ``apiKey``
    schemes that one security requirement names together (AND): the access
    key and the timestamp in the query string, and the signature in the
    ``secret`` header. OpenAPI has no scheme type for an HMAC over the request,
    so the signature's recipe is in its description. The scheme is described
    in :data:`SIGNED_REQUEST`, one place to change when signing changes.

Pages
    Swagger UI and ReDoc are served from the files of the installed
    ``fastapi-offline`` package, mounted under :data:`ASSETS_URL`: the pages
    load nothing from another host, so they work without internet access.

Example:
    >>> from fastapi import FastAPI
    >>> app = FastAPI(docs_url=None, redoc_url=None)
    >>> install_docs(app)
    >>> sorted(route.path for route in app.routes if "docs" in route.path)
    ['/docs', '/docs/assets', '/docs/oauth2-redirect']
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse
from fastapi.security import APIKeyHeader, APIKeyQuery, HTTPBearer
from fastapi.staticfiles import StaticFiles

__all__ = [
    "ASSETS_URL",
    "BEARER",
    "SIGNATURE",
    "SIGNED_KEY",
    "SIGNED_NONCE",
    "SIGNED_REQUEST",
    "SIGNED_TIMESTAMP",
    "install_docs",
]

#: Where the Swagger UI and ReDoc files are served.
ASSETS_URL = "/docs/assets"

#: ``Authorization: Bearer <jwt>``. ``auto_error=False``: the route's own
#: dependency answers a missing or broken token in the service's error format.
BEARER = HTTPBearer(
    scheme_name="BearerToken",
    bearerFormat="JWT",
    description="The token from `POST /api/auth/register/email` or `/api/auth/login/email` "
    "(the part after `Bearer `).",
    auto_error=False,
)
SIGNED_KEY = APIKeyQuery(
    name="key",
    scheme_name="SignedRequestKey",
    description="The API key's `access_key`, once in the query string.",
    auto_error=False,
)
SIGNED_TIMESTAMP = APIKeyQuery(
    name="timestamp",
    scheme_name="SignedRequestTimestamp",
    description="The current time in epoch seconds, once in the query string "
    "(accepted within ±`TIMESTAMP_WINDOW_SECONDS`).",
    auto_error=False,
)
SIGNED_NONCE = APIKeyQuery(
    name="nonce",
    scheme_name="SignedRequestNonce",
    description="16-64 characters of `A-Z a-z 0-9 - _`, new for every request (a nonce "
    "is accepted once per key within the timestamp window).",
    auto_error=False,
)
SIGNATURE = APIKeyHeader(
    name="secret",
    scheme_name="SignedRequestSignature",
    description="base64(HMAC-SHA256(secret_key, canonical request)) of scheme "
    "`NAPI-HMAC-SHA256-V2` (named in the `X-Signature-Scheme` header): the method, the path, "
    "the sorted query string (with `key`, `timestamp` and `nonce`) and the SHA-256 of the "
    "body; see the API's documentation.",
    auto_error=False,
)
#: The schemes a signed request presents together: one security requirement (AND).
SIGNED_REQUEST = (SIGNED_KEY, SIGNED_TIMESTAMP, SIGNED_NONCE, SIGNATURE)


def _assets() -> Path:
    # The package ships swagger-ui-bundle.js, swagger-ui.css, redoc.standalone.js
    # and favicon.png in its static/ folder.
    return Path(str(files("fastapi_offline") / "static"))


def _joined_requirements(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` with the signed-request schemes in one requirement per operation.

    FastAPI lists each security dependency as a requirement of its own, which
    OpenAPI reads as "any one of them"; a signed request needs all of them.
    """
    group = {scheme.scheme_name for scheme in SIGNED_REQUEST}
    for path_item in schema.get("paths", {}).values():
        for operation in path_item.values():
            requirements = operation.get("security") if isinstance(operation, dict) else None
            if not requirements:
                continue
            named = {name for requirement in requirements for name in requirement}
            if group <= named:
                others = [r for r in requirements if not set(r) <= group]
                operation["security"] = [{name: [] for name in sorted(group)}, *others]
    return schema


def install_docs(app: FastAPI) -> None:
    """Serve ``/docs`` and ``/redoc`` from local files, and join the signed-request schemes.

    Build ``app`` with ``docs_url=None, redoc_url=None`` (FastAPI's own pages
    load their files from a CDN).

    Example:
        >>> from fastapi import FastAPI
        >>> app = FastAPI(docs_url=None, redoc_url=None)
        >>> install_docs(app)
        >>> app.openapi()["openapi"].startswith("3.")
        True
    """
    app.mount(ASSETS_URL, StaticFiles(directory=_assets()), name="docs-assets")
    oauth2_redirect_url = "/docs/oauth2-redirect"

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = _joined_requirements(
                get_openapi(
                    title=app.title,
                    version=app.version,
                    summary=app.summary,
                    description=app.description,
                    routes=app.routes,
                )
            )
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_swagger_ui_html(
            openapi_url=f"{root}{app.openapi_url}",
            title=f"{app.title} - Swagger UI",
            oauth2_redirect_url=f"{root}{oauth2_redirect_url}",
            swagger_js_url=f"{root}{ASSETS_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{ASSETS_URL}/swagger-ui.css",
            swagger_favicon_url=f"{root}{ASSETS_URL}/favicon.png",
            # Keep the token across reloads of the page; no online validator badge.
            swagger_ui_parameters={"persistAuthorization": True, "validatorUrl": None},
        )

    @app.get(oauth2_redirect_url, include_in_schema=False)
    async def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @app.get("/redoc", include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_redoc_html(
            openapi_url=f"{root}{app.openapi_url}",
            title=f"{app.title} - ReDoc",
            redoc_js_url=f"{root}{ASSETS_URL}/redoc.standalone.js",
            redoc_favicon_url=f"{root}{ASSETS_URL}/favicon.png",
            with_google_fonts=False,
        )
