"""Prometheus remote_write receiver: snappy-compressed protobuf ``WriteRequest`` (remote write 1.0).

Each sample becomes a ``MetricPoint`` (labels including ``__name__``, time in seconds, value). A body
that is not snappy, or not a ``WriteRequest``, is refused with a 400 (Prometheus does not retry 4xx).
Stale markers (Prometheus' special NaN) are dropped.
"""

from __future__ import annotations

import math
import struct

import cramjam

from opsloop.aiops.ingestion.normalise import Decoded, Limits, MetricPoint
from opsloop.aiops.ingestion.protowire import double, fields, signed64, text
from opsloop.errors import InvalidInputError, LimitExceededError

__all__ = ["check_content_type", "decode_remote_write", "encode_remote_write"]

_STALE_NAN_BITS = 0x7FF0000000000002
_MESSAGE = "prometheus.WriteRequest"  # remote write 1.0's message, the one read here


def check_content_type(content_type: str) -> None:
    """Refuse a body that says it is another protobuf message (remote write 2.0's
    ``io.prometheus.write.v2.Request``): its fields would read as an empty ``WriteRequest``. The
    route answers 415, which the 2.0 spec asks of a receiver without 2.0."""
    for param in content_type.split(";")[1:]:
        key, _, value = param.partition("=")
        message = value.strip().strip('"')
        if key.strip().lower() == "proto" and message != _MESSAGE:
            raise InvalidInputError(f"unsupported remote write message {message!r}: only remote write 1.0 "
                                    f"({_MESSAGE}) is read", field="content-type")


def decompress(body: bytes, max_bytes: int) -> bytes:
    """A snappy block-format body (remote_write's, Loki protobuf's, ``Content-Encoding: snappy``'s), refused
    before decompressing when it declares more than ``max_bytes``."""
    try:
        declared = _declared_length(body)
        if declared > max_bytes:
            raise LimitExceededError(f"decompressed body exceeds {max_bytes} bytes (snappy declares {declared})",
                                     field="body")
        return bytes(cramjam.snappy.decompress_raw(body))
    except cramjam.DecompressionError as exc:
        raise InvalidInputError(f"body is not valid snappy (block format): {exc}", field="body") from None


def _declared_length(body: bytes) -> int:
    result = shift = 0
    for i, b in enumerate(body[:10]):
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result
        shift += 7
        if i == 9:
            break
    raise InvalidInputError("body is not valid snappy (block format)", field="body")


def _series(buf: memoryview) -> tuple[dict[str, str], list[tuple[int, int]]]:
    labels: dict[str, str] = {}
    samples: list[tuple[int, int]] = []
    for num, _wt, value in fields(buf):
        if num == 1 and isinstance(value, memoryview):
            name = val = ""
            for n3, _w3, v3 in fields(value):
                if n3 == 1:
                    name = text(v3, "label name")
                elif n3 == 2:
                    val = text(v3, "label value")
            if name:
                labels[name] = val
        elif num == 2 and isinstance(value, memoryview):
            bits, ts = 0, 0
            for n3, w3, v3 in fields(value):
                if n3 == 1 and w3 == 1 and isinstance(v3, int):
                    bits = v3
                elif n3 == 2 and w3 == 0 and isinstance(v3, int):
                    ts = signed64(v3)
            samples.append((bits, ts))
    return labels, samples


def decode_remote_write(body: bytes, limits: Limits, now: float, max_bytes: int = 64 << 20) -> Decoded:
    raw = decompress(body, max_bytes)
    out = Decoded()
    index = 0
    for num, _wt, value in fields(raw):
        if num != 1 or not isinstance(value, memoryview):
            continue  # metadata (3) and unknown fields are ignored
        labels, samples = _series(value)
        out.items += max(1, len(samples))
        try:
            if "__name__" not in labels:
                raise InvalidInputError("a series needs a __name__ label", field="labels")
            labels = limits.labels(labels)
            for bits, ts in samples:
                if bits == _STALE_NAN_BITS:
                    continue
                v = double(bits)
                t = limits.time(ts / 1000.0, now, "timestamp")
                if not math.isnan(v):
                    out.points.append(MetricPoint(labels, t, v))
        except InvalidInputError as exc:
            out.reject(index, exc.message)
        index += 1
    return out


# --- encoding (for tests and benchmarks: what a Prometheus server sends) ------------------------------
def _vint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _ld(num: int, payload: bytes) -> bytes:
    return _vint(num << 3 | 2) + _vint(len(payload)) + payload


def encode_remote_write(series: list[tuple[dict[str, str], list[tuple[float, float]]]]) -> bytes:
    """Snappy-compressed ``WriteRequest`` from ``[(labels, [(time_s, value)])]``."""
    msg = bytearray()
    for labels, samples in series:
        ts = bytearray()
        for name, val in sorted(labels.items()):
            ts += _ld(1, _ld(1, name.encode()) + _ld(2, val.encode()))
        for t, v in samples:
            sample = _vint(1 << 3 | 1) + struct.pack("<d", v) + _vint(2 << 3 | 0) + _vint(int(t * 1000) & (2**64 - 1))
            ts += _ld(2, sample)
        msg += _ld(1, bytes(ts))
    return bytes(cramjam.snappy.compress_raw(bytes(msg)))
