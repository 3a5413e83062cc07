"""FastAPI plumbing shared by every domain's endpoints: the unit of work per request, the
caller's identity and role checks, the one error model, and the request-size limit."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Annotated, Any

import nats.errors
from fastapi import Depends, FastAPI, Header, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import DataError, IntegrityError, InterfaceError, OperationalError
from sqlalchemy.orm import Session
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from zhibo.kit.auth import Principal, authenticate
from zhibo.kit.db import session_factory
from zhibo.kit.errors import ZhiboError
from zhibo.models.token import Role

logger = logging.getLogger("zhibo.api")


class ErrorBody(BaseModel):
    """Every error the API returns."""

    error: str
    detail: Any = None


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody} for status in (400, 401, 403, 404, 409, 413, 422)
}


def get_db(request: Request) -> Iterator[Session]:
    """The request's unit of work: committed when the endpoint returns, rolled back on error."""
    session = session_factory(request.app.state.engine)()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


# "function" scope: commit before the response is sent, so a client that gets 2xx can read
# what it wrote, and a failed commit is the client's error response, not a lost write.
DB = Annotated[Session, Depends(get_db, scope="function")]


def get_read_db(request: Request) -> Iterator[Session]:
    """A read-only session on the read replica (``ZHIBO_DATABASE_READ_URL``; the primary when
    unset), for the endpoints that may show data a second old (docs/operations.md lists them).
    Nothing is written through it: it is rolled back."""
    engine = getattr(request.app.state, "read_engine", None) or request.app.state.engine
    session = session_factory(engine)()
    try:
        yield session
    finally:
        session.rollback()
        session.close()


ReadDB = Annotated[Session, Depends(get_read_db, scope="function")]


def current_principal(db: DB, authorization: Annotated[str | None, Header()] = None) -> Principal:
    return authenticate(db, authorization)


def require(*roles: Role) -> Callable[..., Principal]:
    """Dependency factory: the caller must hold one of ``roles``."""

    def dependency(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
        principal.require(*roles)
        return principal

    dependency.__name__ = "require_" + "_".join(str(role) for role in roles)
    return dependency


ALL_ROLES = tuple(Role)
READERS = (Role.OPERATOR, Role.COMPLIANCE, Role.AUDITOR)


def _json(status: int, error: str, detail: Any) -> JSONResponse:
    return JSONResponse(status_code=status, content={"error": error, "detail": detail})


def _field_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    fields = []
    for item in exc.errors():
        location = [str(part) for part in item.get("loc", ())]
        fields.append({"field": ".".join(location), "reason": item.get("msg", "invalid")})
    return fields


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ZhiboError)
    async def _zhibo(_request: Request, exc: ZhiboError) -> JSONResponse:
        response = _json(exc.status_code, exc.name, exc.detail)
        response.headers.update(getattr(exc, "headers", None) or {})  # e.g. 429's Retry-After
        return response

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return _json(422, "InvalidInput", _field_errors(exc))

    @app.exception_handler(IntegrityError)
    async def _integrity(_request: Request, exc: IntegrityError) -> JSONResponse:
        # The database's constraints are the last line of defence; name the one that refused.
        message = str(exc.orig).splitlines()[0] if exc.orig else "constraint violated"
        return _json(409, "ConstraintViolated", message)

    @app.exception_handler(OverflowError)
    @app.exception_handler(DataError)
    async def _out_of_range(request: Request, exc: Exception) -> JSONResponse:
        # An id or number past what the database stores (e.g. a 30-digit path id): bad input.
        # The value itself is not echoed. Another OverflowError is a bug: a 500 as any other.
        if isinstance(exc, OverflowError) and "too large to convert" not in str(exc):
            return await _unexpected(request, exc)
        detail = "a number or value is out of the range the database stores (ids: 1..2^63-1)"
        return _json(422, "InvalidInput", detail)

    async def _unavailable(request: Request, exc: Exception) -> JSONResponse:
        # PostgreSQL restarting, a NATS node failing over: not a bug, and passing. The request
        # was rolled back (unless its commit was the thing cut): clients retry (docs/operations.md).
        logger.warning(
            "%s unavailable on %s %s: %s",
            "bus" if isinstance(exc, nats.errors.Error) else "database",
            request.method,
            request.url.path,
            type(exc).__name__,
        )
        response = _json(503, "ServiceUnavailable", "a backing service is unavailable; retry")
        response.headers["Retry-After"] = "1"
        return response

    for transient in (OperationalError, InterfaceError, nats.errors.Error):
        app.add_exception_handler(transient, _unavailable)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        # A bug, not bad input: log the type and where, never the request body (it may hold
        # personal data), and answer in the one error shape.
        logger.error(
            "unexpected %s on %s %s",
            type(exc).__name__,
            request.method,
            request.url.path,
            exc_info=exc,
        )
        return _json(500, "InternalError", "an unexpected error; it has been logged")

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        names = {404: "NotFound", 405: "MethodNotAllowed", 413: "RequestTooLarge"}
        return _json(exc.status_code, names.get(exc.status_code, "HTTPError"), exc.detail)


class BodySizeLimit:
    """Refuses bodies over ``max_bytes`` with 413, by Content-Length or while streaming."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = 0
                if declared > self.max_bytes:
                    await self._refuse(send)
                    return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise _TooLarge
            return message

        try:
            await self.app(scope, limited_receive, send)
        except _TooLarge:
            await self._refuse(send)

    async def _refuse(self, send: Send) -> None:
        response = _json(
            413, "RequestTooLarge", f"request body over the {self.max_bytes}-byte limit"
        )
        await send({"type": "http.response.start", "status": 413, "headers": response.raw_headers})
        await send({"type": "http.response.body", "body": response.body})


class _TooLarge(Exception):
    pass
