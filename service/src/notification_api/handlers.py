"""Exception handlers: every error leaves as ``{status, msg, detail, code}`` JSON.

sqlrecord's own handlers (``sqlrecord.fastapi.install_error_handlers``) decide
the status of its typed errors (``NotFoundError`` 404, ``DuplicateKeyError``
409, ``InvalidFieldError`` 422, 503 with ``Retry-After`` ...) and log the
library's ``detail``, which is written for the developer and names constraints
and columns; the service only shapes the body, with a fixed sentence per kind
and its own code. Anything unexpected is a 500 with a generic body; its
traceback goes to the log, never to the client (no SQL, no stack in a response).
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from sqlrecord.fastapi import Problem
from sqlrecord.fastapi import install_error_handlers as sqlrecord_handlers

from .errors import APIError, error_body

__all__ = ["install_error_handlers", "sqlrecord_error_body"]

logger = logging.getLogger("notification_api")

# sqlrecord's problem kinds (its statuses: ``sqlrecord.fastapi``) → (code, msg, what
# the client reads). The sentences name nothing of the schema or of sqlrecord.
_SQLRECORD_CODES = {
    "not-found": ("4040000", "NOT_FOUND", "The resource does not exist."),
    "duplicate-key": ("4090000", "DUPLICATE", "A record with these values exists already."),
    "foreign-key": (
        "4090001",
        "CONFLICT",
        "The request refers to a record that does not exist, or one that others still use.",
    ),
    "stale-object": (
        "4090002",
        "CHANGED_MEANWHILE",
        "The record changed meanwhile: read it again and retry.",
    ),
    "invalid-field": ("4220002", "INVALID_FIELD", "The request sets a field it may not."),
    "protected-field": ("4220002", "INVALID_FIELD", "The request sets a field it may not."),
    "invalid-value": ("4220003", "INVALID_VALUE", "A value does not fit its field."),
    "missing-value": ("4220004", "MISSING_VALUE", "A required value is missing."),
    # Momentary: the database is unreachable or aborted the transaction; sqlrecord
    # answers 503 with Retry-After and logs the details.
    "database-unavailable": ("5030001", "TRY_AGAIN", "The service is busy; try again in a moment."),
    "transaction-conflict": ("5030002", "TRY_AGAIN", "The service is busy; try again in a moment."),
}
# Any other kind (a configuration mistake, a relationship not loaded): ours, a 500.
_INTERNAL = ("5000001", "INTERNAL_ERROR", "Internal server error; it has been logged.")


def _json(status: int, code: str, msg: str, detail: str) -> JSONResponse:
    return JSONResponse(error_body(status, code, msg, detail), status_code=status)


async def _api_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, APIError)
    return JSONResponse(error.body(), status_code=error.status, headers=dict(error.headers))


def sqlrecord_error_body(request: Request, problem: Problem) -> dict[str, Any]:
    """The service's body for a sqlrecord error: its status, with the service's code.

    sqlrecord decides the status (and logs the library's own message); this
    hook only puts it in the service's shape.

    Example:
        >>> from sqlrecord.exceptions import DuplicateKeyError
        >>> from sqlrecord.fastapi import problem_for
        >>> body = sqlrecord_error_body(None, problem_for(DuplicateKeyError("users.email")))
        >>> body["status"], body["code"], body["msg"]
        (409, '4090000', 'DUPLICATE')
    """
    if problem.kind in _SQLRECORD_CODES:
        return error_body(problem.status, *_SQLRECORD_CODES[problem.kind])
    if problem.status >= 500:
        return error_body(500, *_INTERNAL)
    # A kind this service has no number for yet: its status, the generic number 0.
    msg = problem.kind.upper().replace("-", "_")
    return error_body(problem.status, f"{problem.status}0000", msg, problem.detail)


async def _validation_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    problems = [
        f"{'.'.join(str(part) for part in problem['loc'])}: {problem['msg']}"
        for problem in error.errors()
    ]
    return _json(422, "4220001", "VALIDATION_ERROR", "; ".join(problems))


async def _http_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, HTTPException)
    if error.status_code == 400 and isinstance(error.__cause__, UnicodeDecodeError):
        # FastAPI answers a JSON body that is not UTF-8 with a bare 400 (and one that is
        # not JSON with 422): both are a body the schema cannot accept, so both are 422.
        return _json(422, "4220001", "VALIDATION_ERROR", "body: not UTF-8 encoded JSON text")
    msg = str(error.detail).upper().replace(" ", "_")
    response = _json(error.status_code, f"{error.status_code}0000", msg, str(error.detail))
    if error.headers:
        response.headers.update(error.headers)
    return response


async def _unexpected(request: Request, error: Exception) -> JSONResponse:
    logger.error("Unhandled error on %s %s", request.method, request.url.path, exc_info=error)
    return _json(500, "5000001", "INTERNAL_ERROR", "Internal server error; it has been logged.")


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers on ``app``.

    Example:
        >>> from fastapi import FastAPI
        >>> app = FastAPI()
        >>> install_error_handlers(app)
        >>> APIError in app.exception_handlers
        True
    """
    app.add_exception_handler(APIError, _api_error)
    sqlrecord_handlers(app, body=sqlrecord_error_body)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
