"""Request parsing and JSON responses for the MLflow-compatible REST API.

Parsing checks types field by field and raises ``InvalidInputError`` naming the field, so a
malformed request is a 400 that says what is wrong, never a 500.
"""

from __future__ import annotations

import builtins
import math
from collections.abc import Callable
from typing import Any, Literal, overload

import orjson
from starlette.requests import Request
from starlette.responses import Response

from opsloop.errors import InvalidInputError, LimitExceededError

__all__ = ["Body", "json_response", "num", "read_body"]

_NON_FINITE = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf, "inf": math.inf, "-inf": -math.inf,
               "nan": math.nan}


def num(value: float) -> float | str:
    """A double as proto3 JSON writes it: non-finite values as strings."""
    if value != value:
        return "NaN"
    if value in (math.inf, -math.inf):
        return "Infinity" if value > 0 else "-Infinity"
    return value


class JSONResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def json_response(content: Any, status_code: int = 200) -> Response:
    return JSONResponse(content, status_code=status_code)


class Body:
    """Typed access to a request's fields (JSON body for POST/PATCH/DELETE, query string for GET)."""

    __slots__ = ("data", "multi")

    def __init__(self, data: dict[str, Any], multi: dict[str, list[str]] | None = None) -> None:
        self.data = data
        self.multi = multi or {}

    def _get(self, name: str, required: bool) -> Any:
        value = self.data.get(name)
        if value is None and required:
            raise InvalidInputError(f"Missing value for required parameter '{name}'.", field=name)
        return value

    @overload
    def str(self, name: str, required: Literal[True], default: str | None = None) -> str: ...
    @overload
    def str(self, name: str, required: bool = False, default: None = None) -> str | None: ...
    @overload
    def str(self, name: str, required: bool = False, *, default: str) -> str: ...

    def str(self, name: str, required: bool = False, default: str | None = None) -> str | None:
        value = self._get(name, required)
        if value is None:
            return default
        if not isinstance(value, str):
            raise InvalidInputError(f"Invalid value {value!r} for parameter '{name}': expected a string", field=name)
        return value

    @overload
    def int(self, name: builtins.str, required: Literal[True], default: int | None = None) -> int: ...
    @overload
    def int(self, name: builtins.str, required: bool = False, default: None = None) -> int | None: ...
    @overload
    def int(self, name: builtins.str, required: bool = False, *, default: int) -> int: ...

    def int(self, name: builtins.str, required: bool = False, default: int | None = None) -> int | None:
        value = self._get(name, required)
        if value is None:
            return default
        return to_int(value, name)

    def list(
        self, name: builtins.str, item: Callable[[Any, builtins.str], Any] | None = None
    ) -> builtins.list[Any]:
        value = self.multi.get(name) if name in self.multi else self.data.get(name)
        if value is None:
            return []
        if not isinstance(value, list):
            value = [value] if isinstance(value, str) and name in self.multi else value
        if not isinstance(value, list):
            raise InvalidInputError(f"Invalid value for parameter '{name}': expected a list", field=name)
        return [item(v, f"{name}[{i}]") for i, v in enumerate(value)] if item else value

    def run_id(self) -> builtins.str:
        value = self.str("run_id") or self.str("run_uuid")
        if not value:
            raise InvalidInputError("Missing value for required parameter 'run_id'.", field="run_id")
        return value


def to_int(value: Any, name: str) -> int:
    if isinstance(value, bool):
        raise InvalidInputError(f"Invalid value {value!r} for parameter '{name}': expected an integer", field=name)
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            pass
    if isinstance(value, float) and value.is_integer():
        return int(value)
    raise InvalidInputError(f"Invalid value {value!r} for parameter '{name}': expected an integer", field=name)


def to_float(value: Any, name: str) -> float:
    if isinstance(value, bool):
        raise InvalidInputError(f"Invalid value {value!r} for parameter '{name}': expected a number", field=name)
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        if value in _NON_FINITE:
            return _NON_FINITE[value]
        try:
            return float(value)
        except ValueError:
            pass
    raise InvalidInputError(f"Invalid value {value!r} for parameter '{name}': expected a number", field=name)


def to_dict(value: Any, name: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidInputError(f"Invalid value for '{name}': expected an object", field=name)
    return value


def key_values(items: list[Any], name: str, value_field: str = "value") -> list[tuple[str, str]]:
    out = []
    for i, item in enumerate(items):
        entry = to_dict(item, f"{name}[{i}]")
        key, value = entry.get("key"), entry.get(value_field)
        if not isinstance(key, str):
            raise InvalidInputError(f"Invalid value for '{name}[{i}].key': expected a string", field=f"{name}.key")
        if value is None:
            value = ""
        if not isinstance(value, str):
            raise InvalidInputError(f"Invalid value for '{name}[{i}].{value_field}': expected a string",
                                    field=f"{name}.{value_field}")
        out.append((key, value))
    return out


async def read_body(request: Request, max_bytes: int) -> Body:
    """Parse the request: query string for GET, a JSON object body otherwise."""
    if request.method == "GET":
        query = request.query_params
        data: dict[str, Any] = {}
        multi: dict[str, list[str]] = {}
        for key in query.keys():
            values = query.getlist(key)
            data[key] = values[-1]
            multi[key] = values
        return Body(data, multi)
    raw = await _bounded(request, max_bytes)
    if not raw.strip():
        return Body({})
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidInputError(f"Malformed JSON request body: {exc}", field="body") from None
    if not isinstance(data, dict):
        raise InvalidInputError("Request body must be a JSON object", field="body")
    return Body(data)


async def _bounded(request: Request, max_bytes: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise LimitExceededError(f"Request body of {declared} bytes exceeds the limit of {max_bytes}", field="body")
    chunks = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise LimitExceededError(f"Request body exceeds the limit of {max_bytes} bytes", field="body")
        chunks.append(chunk)
    return b"".join(chunks)
