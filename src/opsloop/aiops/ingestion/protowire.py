"""A minimal protobuf wire-format reader for the few messages opsloop decodes by hand
(Prometheus remote_write ``WriteRequest``, Loki ``PushRequest``).

``fields(buf)`` yields ``(field_number, wire_type, value)`` where value is an int for varints and
fixed-width numbers, and a ``memoryview`` slice for length-delimited fields. Truncated or malformed
input raises ``InvalidInputError``.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

from opsloop.errors import InvalidInputError

__all__ = ["double", "fields", "number", "signed64", "text"]

_D = struct.Struct("<d")


def _bad(what: str) -> InvalidInputError:
    return InvalidInputError(f"malformed protobuf: {what}", field="body")


def fields(buf: bytes | memoryview) -> Iterator[tuple[int, int, int | memoryview]]:
    mv = memoryview(buf)
    n = len(mv)
    pos = 0
    while pos < n:
        key, pos = _varint(mv, pos, n)
        num, wt = key >> 3, key & 7
        if num == 0:
            raise _bad("field number 0")
        if wt == 0:
            value, pos = _varint(mv, pos, n)
            yield num, wt, value
        elif wt == 2:
            length, pos = _varint(mv, pos, n)
            end = pos + length
            if end > n:
                raise _bad("length-delimited field past the end")
            yield num, wt, mv[pos:end]
            pos = end
        elif wt == 1:
            if pos + 8 > n:
                raise _bad("truncated 64-bit field")
            yield num, wt, int.from_bytes(mv[pos:pos + 8], "little")
            pos += 8
        elif wt == 5:
            if pos + 4 > n:
                raise _bad("truncated 32-bit field")
            yield num, wt, int.from_bytes(mv[pos:pos + 4], "little")
            pos += 4
        else:
            raise _bad(f"unsupported wire type {wt}")


def _varint(mv: memoryview, pos: int, n: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= n:
            raise _bad("truncated varint")
        b = mv[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise _bad("varint too long")


def double(bits: int) -> float:
    return _D.unpack(bits.to_bytes(8, "little"))[0]


def signed64(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value


def number(value: int | memoryview, what: str) -> int:
    """A varint or fixed-width field's value; a length-delimited one is malformed."""
    if not isinstance(value, int):
        raise _bad(f"{what} must be a number")
    return value


def text(value: object, what: str) -> str:
    if not isinstance(value, memoryview):
        raise _bad(f"{what} must be a string")
    try:
        return bytes(value).decode("utf-8")
    except UnicodeDecodeError:
        raise _bad(f"{what} is not UTF-8") from None
