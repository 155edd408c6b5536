"""Exception handlers: every error leaves as ``{status, msg, detail, code}`` JSON.

sqlrecord's typed errors map to HTTP as its docs suggest (``NotFoundError``
404, ``DuplicateKeyError`` 409, ``InvalidFieldError`` 422 ...). Anything
unexpected is a 500 with a generic body; its traceback goes to the log, never
to the client (no SQL, no stack in a response).
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from sqlrecord.exceptions import (
    DatabaseUnavailableError,
    DuplicateKeyError,
    ForeignKeyError,
    InvalidFieldError,
    InvalidValueError,
    NotFoundError,
    NotNullError,
    SQLRecordError,
    StaleObjectError,
    TransactionConflictError,
)

from .errors import APIError, error_body

__all__ = ["install_error_handlers"]

logger = logging.getLogger("notification_api")

# sqlrecord error → (status, code, msg). The most specific class comes first.
_SQLRECORD = [
    (NotFoundError, 404, "4040000", "NOT_FOUND"),
    (DuplicateKeyError, 409, "4090000", "DUPLICATE"),
    (ForeignKeyError, 409, "4090001", "CONFLICT"),
    (InvalidFieldError, 422, "4220002", "INVALID_FIELD"),
    (InvalidValueError, 422, "4220003", "INVALID_VALUE"),
    (NotNullError, 422, "4220004", "MISSING_VALUE"),
    (StaleObjectError, 409, "4090002", "CHANGED_MEANWHILE"),
]
# Momentary: the database is unreachable or aborted the transaction. A 503 with
# Retry-After tells the client to try again; the details stay in the log.
_TRANSIENT = (DatabaseUnavailableError, TransactionConflictError)


def _json(status: int, code: str, msg: str, detail: str) -> JSONResponse:
    return JSONResponse(error_body(status, code, msg, detail), status_code=status)


async def _api_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, APIError)
    return JSONResponse(error.body(), status_code=error.status, headers=error.headers or None)


async def _sqlrecord_error(request: Request, error: Exception) -> JSONResponse:
    if isinstance(error, _TRANSIENT):
        logger.warning(
            "database unavailable for %s %s: %s", request.method, request.url.path, error
        )
        code = "5030001" if isinstance(error, DatabaseUnavailableError) else "5030002"
        response = _json(503, code, "TRY_AGAIN", "The service is busy; try again in a moment.")
        response.headers["Retry-After"] = "1"
        return response
    for kind, status, code, msg in _SQLRECORD:
        if isinstance(error, kind):
            assert isinstance(error, SQLRecordError)
            return _json(status, code, msg, error.detail)
    return await _unexpected(request, error)  # configuration mistakes are ours: 500


async def _validation_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    problems = [
        f"{'.'.join(str(part) for part in problem['loc'])}: {problem['msg']}"
        for problem in error.errors()
    ]
    return _json(422, "4220001", "VALIDATION_ERROR", "; ".join(problems))


async def _http_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, HTTPException)
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
    app.add_exception_handler(SQLRecordError, _sqlrecord_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
