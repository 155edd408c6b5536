"""Exception handlers: every error leaves as ``{status, msg, detail, code}`` JSON.

sqlrecord's typed errors map to HTTP as its docs suggest (``NotFoundError``
404, ``DuplicateKeyError`` 409, ``InvalidFieldError`` 422 ...). Their
``detail`` is written for the developer of the code that called sqlrecord: it
names constraints, columns, the driver's message and sqlrecord's own options
(``allow_protected``). The client gets a fixed sentence per kind instead, and
the library's text goes to the log. Anything unexpected is a 500 with a
generic body; its traceback goes to the log, never to the client (no SQL, no
stack in a response).
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

# sqlrecord error → (status, code, msg, what the client reads). The most specific
# class comes first. The sentences name nothing of the schema or of sqlrecord.
_SQLRECORD = [
    (NotFoundError, 404, "4040000", "NOT_FOUND", "The resource does not exist."),
    (DuplicateKeyError, 409, "4090000", "DUPLICATE", "A record with these values exists already."),
    (
        ForeignKeyError,
        409,
        "4090001",
        "CONFLICT",
        "The request refers to a record that does not exist, or one that others still use.",
    ),
    (InvalidFieldError, 422, "4220002", "INVALID_FIELD", "The request sets a field it may not."),
    (InvalidValueError, 422, "4220003", "INVALID_VALUE", "A value does not fit its field."),
    (NotNullError, 422, "4220004", "MISSING_VALUE", "A required value is missing."),
    (
        StaleObjectError,
        409,
        "4090002",
        "CHANGED_MEANWHILE",
        "The record changed meanwhile: read it again and retry.",
    ),
]
# Momentary: the database is unreachable or aborted the transaction. A 503 with
# Retry-After tells the client to try again; the details stay in the log.
_TRANSIENT = (DatabaseUnavailableError, TransactionConflictError)


def _json(status: int, code: str, msg: str, detail: str) -> JSONResponse:
    return JSONResponse(error_body(status, code, msg, detail), status_code=status)


async def _api_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, APIError)
    return JSONResponse(error.body(), status_code=error.status, headers=dict(error.headers))


async def _sqlrecord_error(request: Request, error: Exception) -> JSONResponse:
    if isinstance(error, _TRANSIENT):
        logger.warning(
            "database unavailable for %s %s: %s", request.method, request.url.path, error
        )
        code = "5030001" if isinstance(error, DatabaseUnavailableError) else "5030002"
        response = _json(503, code, "TRY_AGAIN", "The service is busy; try again in a moment.")
        response.headers["Retry-After"] = "1"
        return response
    for kind, status, code, msg, detail in _SQLRECORD:
        if isinstance(error, kind):
            assert isinstance(error, SQLRecordError)
            # The library's own words are for whoever reads the log.
            logger.info(
                "%s %s answered %s: %s", request.method, request.url.path, status, error.detail
            )
            return _json(status, code, msg, detail)
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
    app.add_exception_handler(SQLRecordError, _sqlrecord_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
