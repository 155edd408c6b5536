"""sqlrecord's errors as FastAPI responses: the handler and the default body.

The status of each error is decided in ``_problems.py``; this module makes the
response and the log line. ``sqlrecord.fastapi`` exports its public names.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from fastapi import Request
from fastapi.responses import JSONResponse

from ._problems import Problem, problem_for
from .exceptions import SQLRecordError

if TYPE_CHECKING:
    from fastapi import FastAPI

__all__ = ["ProblemBody", "install_error_handlers", "problem_details"]

logger = logging.getLogger("sqlrecord.fastapi")

#: Shapes an error response's JSON body from the request and the problem.
ProblemBody = Callable[[Request, Problem], Mapping[str, Any]]


def problem_details(request: Request, problem: Problem) -> dict[str, Any]:
    """The default error body: RFC 9457 problem details.

    Example:
        >>> from starlette.requests import Request
        >>> from sqlrecord._problems import problem_for
        >>> from sqlrecord.exceptions import NotFoundError
        >>> request = Request({"type": "http", "method": "GET", "path": "/users/3",
        ...                    "headers": [], "query_string": b""})
        >>> problem_details(request, problem_for(NotFoundError("No User with id=3.")))
        {'type': 'urn:sqlrecord:problem:not-found', 'title': 'Not found', 'status': 404,
         'detail': 'The resource does not exist.', 'instance': '/users/3'}
    """
    return {
        "type": problem.type,
        "title": problem.title,
        "status": problem.status,
        "detail": problem.detail,
        "instance": request.url.path,
    }


def install_error_handlers(
    app: FastAPI,
    *,
    body: ProblemBody = problem_details,
    media_type: str | None = None,
    retry_after: int = 1,
) -> None:
    """Answer every sqlrecord error with its status (``Problem``: 404, 409, 422, 503
    with ``Retry-After``, 500 for the app's own bugs) and a JSON body.

    The body is RFC 9457 problem details (``application/problem+json``) unless
    ``body`` shapes another (``application/json`` then, unless ``media_type``
    says otherwise). The client never reads the error's own ``detail``, which
    names tables and constraints; the ``sqlrecord.fastapi`` logger gets it (4xx
    at INFO, 503 at WARNING, 500 at ERROR with the traceback). Calling it again
    replaces the handler. ``Database.init_app`` calls it with the defaults.

    Example:
        >>> from fastapi import FastAPI
        >>> app = FastAPI()
        >>> def our_body(request, problem):
        ...     return {"status": problem.status, "code": problem.kind}
        >>> install_error_handlers(app, body=our_body)
        >>> from sqlrecord.exceptions import SQLRecordError
        >>> SQLRecordError in app.exception_handlers
        True
    """
    if media_type is None:
        media_type = "application/problem+json" if body is problem_details else "application/json"

    async def sqlrecord_error(request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, SQLRecordError)
        problem = problem_for(error, retry_after=retry_after)
        _log(request, problem)
        headers = None if problem.retry_after is None else {"Retry-After": str(retry_after)}
        return JSONResponse(
            dict(body(request, problem)),
            status_code=problem.status,
            headers=headers,
            media_type=media_type,
        )

    app.add_exception_handler(SQLRecordError, sqlrecord_error)


def _log(request: Request, problem: Problem) -> None:
    where = f"{request.method} {request.url.path}"
    if problem.status >= 500 and problem.retry_after is None:
        logger.error("%s answered %s: %s", where, problem.status, problem.error,
                     exc_info=problem.error)  # fmt: skip
    elif problem.status >= 500:
        logger.warning("%s answered %s: %s", where, problem.status, problem.error)
    else:
        logger.info("%s answered %s: %s", where, problem.status, problem.error)
