"""FastAPI integration: the request's session found from the request, and sqlrecord's
errors as HTTP responses.

``Database.init_app(app)`` registers a database on an app (and installs the error
handlers); ``Database.lifespan`` is its part of the app's lifespan. This module
needs FastAPI, an optional dependency (``sqlrecord[fastapi]``).

Example:
    >>> from fastapi import FastAPI
    >>> app = FastAPI(lifespan=db.lifespan)
    >>> db.init_app(app)
    >>> @app.post("/users", status_code=201)
    ... async def sign_up(email: str, session: RequestSession) -> dict[str, int]:
    ...     return {"id": (await User.create(email=email)).id}
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Annotated, Any, Literal

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.applications import Starlette

from ._http_errors import ProblemBody, install_error_handlers, problem_details
from ._problems import Problem, problem_for
from ._registry import ModelDatabase, database_in_context
from ._requests import app_database, request_unit
from .exceptions import ConfigurationError

if TYPE_CHECKING:
    from fastapi.params import Depends as DependsParam

    from ._database import Database

__all__ = [
    "CommitMode",
    "Problem",
    "ProblemBody",
    "RequestSession",
    "database_of",
    "install_error_handlers",
    "problem_details",
    "problem_for",
    "request_session",
]

#: When the request's session commits: ``"never"`` (the route commits itself, if
#: at all), ``"on_success"`` (when the route returns without error), or
#: ``"unsafe_methods"`` (on success, and only for methods other than GET, HEAD,
#: OPTIONS and TRACE, whose sessions are closed without a COMMIT; the others
#: begin as writers, which on SQLite takes the write lock up front).
CommitMode = Literal["never", "on_success", "unsafe_methods"]
_COMMIT_MODES: tuple[CommitMode, ...] = ("never", "on_success", "unsafe_methods")
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})


def database_of(source: Request | Starlette) -> Database:
    """The database of an app (the first given ``init_app``), or of the app serving
    a request; a mounted sub-app without one of its own uses the outer app's.

    Example:
        >>> from fastapi import FastAPI
        >>> app = FastAPI()
        >>> db.init_app(app)
        >>> database_of(app) is db
        True
        >>> @app.get("/which")
        ... async def which(request: Request) -> bool:
        ...     return database_of(request) is db
    """
    database = app_database(source.app if isinstance(source, Request) else source)
    if database is None and isinstance(source, Request):  # the outer app's, set by its middleware
        database = database_in_context()
    if database is None:
        raise ConfigurationError(
            "This app has no database: call `db.init_app(app)` when you create the app, "
            "or name one: `request_session(database=db)`."
        )
    return database  # type: ignore[return-value]


def _dependency(
    commit: CommitMode, database: ModelDatabase | None
) -> Callable[[Request], AsyncIterator[AsyncSession]]:
    async def request_session_dependency(request: Request) -> AsyncIterator[AsyncSession]:
        serving = database if database is not None else database_of(request)
        writes = commit == "on_success" or (
            commit == "unsafe_methods" and request.method not in _SAFE_METHODS
        )
        async with request_unit(
            serving,  # type: ignore[arg-type]
            commit=writes,
            writer=writes and commit == "unsafe_methods",
            read_only=not writes and commit == "unsafe_methods",
        ) as session:
            yield session

    return request_session_dependency


# One callable per mode and database: FastAPI then opens one session per request
# however many routes, routers and dependencies ask for it.
_dependencies: dict[tuple[CommitMode, int], tuple[Any, Callable[..., Any]]] = {}


def request_session(
    *, commit: CommitMode = "on_success", database: Database | None = None
) -> DependsParam:
    """A FastAPI dependency: the request's session, ambient for model calls, in the
    database of the app serving the request (or ``database``), ended as ``commit``
    says (:data:`CommitMode`) before the response is sent.

    Use it as a parameter's ``Annotated`` metadata, or in a router's
    ``dependencies=[...]`` so that every route runs in the request's session. An
    error in the route, or in the commit, rolls everything back and reaches the
    app's error handlers.

    Example:
        >>> from typing import Annotated
        >>> from fastapi import APIRouter
        >>> from sqlalchemy.ext.asyncio import AsyncSession
        >>> Writes = Annotated[AsyncSession, request_session(commit="unsafe_methods")]
        >>> router = APIRouter(dependencies=[request_session(commit="unsafe_methods")])
    """
    if commit not in _COMMIT_MODES:
        raise ConfigurationError(
            f"commit={commit!r} is not a commit mode: use one of {', '.join(_COMMIT_MODES)}."
        )
    key = (commit, id(database))
    if key not in _dependencies:  # the database is kept too, so its id stays its own
        _dependencies[key] = (database, _dependency(commit, database))
    # scope="function": the session ends before the response is sent, so a failed
    # COMMIT is an error response, not a lost write after a 200.
    return Depends(_dependencies[key][1], scope="function")  # type: ignore[no-any-return]


#: The request's session in the app's database, committed when the route succeeds.
RequestSession = Annotated[AsyncSession, request_session()]
