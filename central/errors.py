"""One error shape for every failure: ``{"code": ..., "message": ..., "fields": [...]}``.

Handlers turn FastAPI's validation errors, Starlette's HTTP errors, database
trouble and anything unexpected into that shape, so a client never has to
parse a traceback or an HTML page.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException

from central.models import Error

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 1024 * 1024
RETRY_AFTER_S = 2

_CODES_BY_STATUS = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    412: "precondition_failed",
    413: "body_too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    429: "too_many_requests",
    500: "internal_error",
    503: "unavailable",
}


class ApiError(Exception):
    """An answer other than success, with its code and plain message."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = dict(headers or {})


def not_found(what: str, ident: str) -> ApiError:
    return ApiError(404, f"{what}_not_found", f"There is no {what.replace('_', ' ')} {ident!r}.")


def error_body(code: str, message: str, fields: Sequence[Mapping[str, str]] | None = None) -> dict:
    return Error.model_validate({"code": code, "message": message, "fields": fields}).model_dump(
        mode="json", exclude_none=True
    )


def error_response(
    status: int,
    code: str,
    message: str,
    *,
    fields: Sequence[Mapping[str, str]] | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    return JSONResponse(error_body(code, message, fields), status_code=status, headers=headers)


def field_errors(errors: Sequence[Any]) -> list[dict[str, str]]:
    """Pydantic's error list as [{"field", "message"}], without echoing the input
    (which may hold a card token)."""
    out = []
    for err in errors:
        loc = [str(part) for part in err.get("loc", ())]
        if loc and loc[0] == "body":
            loc = loc[1:]
        elif len(loc) > 1:  # query, header, path: the parameter's name says it
            loc = loc[-1:]
        message = str(err.get("msg", "is not valid"))
        if loc and loc[-1] == "[key]":  # pydantic's marker for a bad key of a map
            loc = loc[:-1]
            message = f"key: {message}"
        if err.get("type") == "json_invalid":
            message = "the body is not valid JSON"
            loc = []
        out.append({"field": ".".join(loc) or "body", "message": message})
    return out


def install(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(OperationalError, _database_unavailable)
    app.add_exception_handler(PoolTimeoutError, _database_unavailable)
    app.add_exception_handler(DBAPIError, _database_error)
    app.add_middleware(Guard)


class Guard:
    """Plain ASGI middleware (cheaper than Starlette's BaseHTTPMiddleware):
    - refuses a body announced larger than MAX_BODY_BYTES before reading it;
    - answers an unexpected exception with a 500 in the error shape and keeps the
      connection open (Starlette's last-resort handler re-raises, and the server
      then drops the keep-alive connection the client was using)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == b"content-length" and value.isdigit() and int(value) > MAX_BODY_BYTES:
                response = error_response(
                    413, "body_too_large", f"The body is larger than {MAX_BODY_BYTES} bytes."
                )
                await response(scope, receive, send)
                return
        started = False

        async def watch(message: Any) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except Exception as exc:
            log.error("unexpected error in %s %s", scope["method"], scope["path"], exc_info=exc)
            if started:
                raise  # half an answer is out: only dropping the connection is honest
            response = error_response(500, "internal_error", "The server failed unexpectedly.")
            await response(scope, receive, send)


async def _api_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return error_response(exc.status, exc.code, exc.message, headers=exc.headers)


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    fields = field_errors(exc.errors())
    first = fields[0] if fields else {"field": "body", "message": "is not valid"}
    more = f" (and {len(fields) - 1} more)" if len(fields) > 1 else ""
    return error_response(
        422,
        "invalid_request",
        f"Invalid request: {first['field']}: {first['message']}{more}.",
        fields=fields,
    )


async def _http_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _CODES_BY_STATUS.get(exc.status_code, f"http_{exc.status_code}")
    detail = exc.detail if isinstance(exc.detail, str) else "The request failed."
    if exc.status_code == 404 and detail == "Not Found":
        detail = "There is no such address in this API."
    elif exc.status_code == 405:
        detail = "This address does not accept that method."
    return error_response(exc.status_code, code, detail, headers=getattr(exc, "headers", None))


async def _database_unavailable(_request: Request, exc: Exception) -> JSONResponse:
    log.warning("database unavailable: %s", type(exc).__name__)
    return error_response(
        503,
        "database_busy",
        "The database is busy or unreachable; try again shortly.",
        headers={"Retry-After": str(RETRY_AFTER_S)},
    )


async def _database_error(_request: Request, exc: Exception) -> JSONResponse:
    log.error("database error: %s", exc.__class__.__name__, exc_info=exc)
    return error_response(409, "conflict", "The change conflicts with the data; read it again.")


def openapi_errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """Error responses for a route's documentation, all with the Error body."""
    descriptions = {
        400: "Bad request (e.g. an unusable cursor or a missing Idempotency-Key).",
        401: "No or unknown bearer token.",
        403: "The token may not do this.",
        404: "Not found.",
        409: "Conflict (e.g. the same Idempotency-Key is still in progress).",
        412: "If-Match does not name the current version.",
        422: "The body or a parameter is invalid, or an Idempotency-Key was reused with "
        "another body.",
        503: "Database busy or unreachable; retry after Retry-After seconds.",
    }
    return {s: {"model": Error, "description": descriptions[s]} for s in statuses}
