"""The one place where domain errors become HTTP status codes and MLflow-style error bodies."""

from __future__ import annotations

import logging

from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from opsloop.errors import (
    AlreadyExistsError,
    InvalidInputError,
    InvalidStateError,
    MissingDependencyError,
    NotFoundError,
    OpsloopError,
    RateLimitedError,
    StorageError,
    ValidationFailedError,
)
from opsloop.server.wire import json_response

__all__ = ["error_body", "install_error_handlers", "status_for"]

log = logging.getLogger("opsloop.server")

# (domain error, HTTP status, MLflow error code), most specific first.
_MAPPING: list[tuple[type[OpsloopError], int, str]] = [
    (NotFoundError, 404, "RESOURCE_DOES_NOT_EXIST"),
    (AlreadyExistsError, 400, "RESOURCE_ALREADY_EXISTS"),
    (RateLimitedError, 429, "REQUEST_LIMIT_EXCEEDED"),
    (InvalidInputError, 400, "INVALID_PARAMETER_VALUE"),
    (InvalidStateError, 400, "INVALID_STATE"),
    (ValidationFailedError, 409, "VALIDATION_FAILED"),
    (MissingDependencyError, 501, "NOT_IMPLEMENTED"),
    (StorageError, 503, "TEMPORARILY_UNAVAILABLE"),
]


def status_for(exc: OpsloopError) -> tuple[int, str]:
    for cls, status, code in _MAPPING:
        if isinstance(exc, cls):
            return status, code
    return 500, "INTERNAL_ERROR"


def error_body(exc: OpsloopError) -> tuple[int, dict]:
    status, code = status_for(exc)
    body = {"error_code": code, "message": exc.message}
    if exc.field:
        body["field"] = exc.field
    return status, body


async def _domain(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, OpsloopError)
    status, body = error_body(exc)
    response = json_response(body, status)
    if isinstance(exc, RateLimitedError):
        response.headers["Retry-After"] = str(max(1, int(exc.retry_after)))
    return response


async def _http(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = {404: "ENDPOINT_NOT_FOUND", 405: "BAD_REQUEST"}.get(exc.status_code, "BAD_REQUEST")
    return json_response({"error_code": code, "message": str(exc.detail)}, exc.status_code)


async def _request_validation(_request: Request, exc: Exception) -> Response:
    """FastAPI's own parameter/body validation: same body shape as every other error, naming the field."""
    assert isinstance(exc, RequestValidationError)
    errors = [_validation_error(err) for err in exc.errors()]
    first = errors[0] if errors else {"field": "body", "message": "invalid request"}
    body = {"error_code": "INVALID_PARAMETER_VALUE", "message": f"{first['field']}: {first['message']}",
            "field": first["field"], "errors": errors}
    return json_response(body, 422)


def _validation_error(err: dict) -> dict[str, str]:
    """One of FastAPI's validation errors as ``{"field", "message"}``; the field is the path in the body (or
    the query parameter), and ``body`` itself when the body is no JSON (FastAPI names the character)."""
    loc = err.get("loc", ())
    if err.get("type") == "json_invalid":
        at = f" at character {loc[1]}" if len(loc) > 1 else ""
        detail = (err.get("ctx") or {}).get("error")
        return {"field": "body", "message": f"the body is not valid JSON{at}" + (f" ({detail})" if detail else "")}
    return {"field": ".".join(str(part) for part in loc[1:]) or str(loc[0] if loc else "body"),
            "message": str(err.get("msg", "invalid value"))}


async def _unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return json_response({"error_code": "INTERNAL_ERROR", "message": f"{type(exc).__name__}: {exc}"}, 500)


def install_error_handlers(app) -> None:  # noqa: ANN001 - a Starlette/FastAPI app
    app.add_exception_handler(OpsloopError, _domain)
    app.add_exception_handler(HTTPException, _http)
    app.add_exception_handler(RequestValidationError, _request_validation)
    app.add_exception_handler(Exception, _unexpected)
