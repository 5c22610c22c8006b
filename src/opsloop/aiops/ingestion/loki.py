"""Loki push API receiver (``POST /loki/api/v1/push``): JSON, and snappy-compressed protobuf.

JSON::

    {"streams": [{"stream": {"job": "api", "level": "error"},
                  "values": [["1700000000000000000", "line", {"trace_id": "…"}]]}]}

Protobuf: ``logproto.PushRequest`` (``streams``: ``labels`` as label-set text ``{job="api"}``,
``entries`` with a ``Timestamp`` and a ``line``, optional structured metadata), snappy block
compressed, as Promtail, Grafana Alloy and the Loki clients send it. Each entry becomes a ``log``
signal: the stream labels are its labels, the line its text; ``level``/``severity``/``detected_level``
labels give its severity.
"""

from __future__ import annotations

import re

from opsloop.aiops.ingestion.normalise import Decoded, Limits, load_json, parse_time
from opsloop.aiops.ingestion.protowire import fields, number, signed64, text
from opsloop.aiops.ingestion.remote_write import decompress
from opsloop.core.signals import SignalKind
from opsloop.errors import InvalidInputError

__all__ = ["decode_loki_json", "decode_loki_proto", "parse_label_set"]

_PAIR = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_.]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*(,|$)')
_LEVEL_KEYS = ("level", "severity", "detected_level", "lvl")
# what Loki writes in detected_level when a line shows no level: not a level (it would read as "warning")
_NO_LEVEL = frozenset({"", "unknown"})
# log15's four-letter levels (go-ethereum and others write lvl=eror), which Loki reads as their words
_LOG15 = {"eror": "error", "dbug": "debug", "trce": "trace"}
# the escapes of Go's strconv.Quote, with which Promtail writes label values (other text stays as it is)
_ESCAPE = re.compile(r"\\(u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|x[0-9a-fA-F]{2}|[0-7]{3}|.)", re.S)
_SIMPLE = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v"}


def _unescape(m: re.Match[str]) -> str:
    e = m.group(1)
    if len(e) > 1:
        code = int(e, 8) if e[0].isdigit() else int(e[1:], 16)
        return chr(code) if code <= 0x10FFFF and not 0xD800 <= code <= 0xDFFF else "\ufffd"  # text stays UTF-8
    return _SIMPLE.get(e, e)  # \" \\ \' are the character itself


def parse_label_set(spec: str) -> dict[str, str]:
    s = spec.strip()
    if not (s.startswith("{") and s.endswith("}")):
        raise InvalidInputError(f"stream labels must look like {{name=\"value\"}}, got {spec[:80]!r}", field="labels")
    body, pos, out = s[1:-1].strip(), 0, {}
    while pos < len(body):
        m = _PAIR.match(body, pos)
        if not m:
            raise InvalidInputError(f"cannot parse stream labels at {body[pos:pos + 40]!r}", field="labels")
        out[m.group(1)] = _ESCAPE.sub(_unescape, m.group(2)) if "\\" in m.group(2) else m.group(2)
        pos = m.end()
    return out


def _level(labels: dict[str, str]) -> str | None:
    """The stream's level: the first of its level labels that names one."""
    level = next((labels[k] for k in _LEVEL_KEYS if labels.get(k, "").lower() not in _NO_LEVEL), None)
    return _LOG15.get(level.lower(), level) if level else None


def _entry(out: Decoded, limits: Limits, labels: dict[str, str], t: float, line: str, meta: dict[str, str] | None,
           now: float, severity: str | None) -> None:
    if "\x00" in line:  # as U+FFFD, the miner's stand-in for bytes that are no text: PostgreSQL stores no NUL
        line = line.replace("\x00", "\ufffd")
    out.signals.append(limits.signal(
        time=limits.time(t, now, "timestamp"), now=now, source="loki", kind=SignalKind.LOG, labels=labels, severity=severity or "info",
        text=line, evidence={"metadata": meta} if meta else None,
    ))


def decode_loki_json(body: bytes, limits: Limits, now: float) -> Decoded:
    try:
        payload = load_json(body)
    except InvalidInputError:
        # a sender that copies a file's bytes into the JSON (a Latin-1 log): Loki reads such a body with the
        # bad bytes as U+FFFD, where refusing it lost every line of the push
        readable = body.decode("utf-8", errors="replace").encode()
        if readable == body:
            raise
        payload = load_json(readable)
    if not isinstance(payload, dict) or not isinstance(payload.get("streams"), list):
        raise InvalidInputError("expected an object with a 'streams' list", field="streams")
    out = Decoded()
    index = 0
    for stream in payload["streams"]:
        if not isinstance(stream, dict) or not isinstance(stream.get("values"), list):
            raise InvalidInputError("each stream needs 'stream' labels and a 'values' list", field="streams")
        try:
            labels = limits.labels(stream.get("stream") or {}, "stream")
            severity = _level(labels)
            bad = None
        except InvalidInputError as exc:
            bad, labels, severity = exc.message, {}, None
        for value in stream["values"]:
            out.items += 1
            try:
                if bad:
                    raise InvalidInputError(bad)
                if not isinstance(value, list) or len(value) not in (2, 3) or not isinstance(value[1], str):
                    raise InvalidInputError("each value must be [\"<ns timestamp>\", \"<line>\"(, {metadata})]")
                if not isinstance(value[0], str | int):
                    raise InvalidInputError("timestamp must be a string of nanoseconds")
                t = parse_time(int(value[0]) / 1e9 if str(value[0]).isdigit() else value[0], "timestamp")
                meta = limits.labels(value[2], "metadata") if len(value) == 3 else None
                _entry(out, limits, labels, t, value[1], meta, now, severity)
            except (InvalidInputError, ValueError) as exc:
                out.reject(index, getattr(exc, "message", str(exc)))
            index += 1
    return out


def _pairs(buf: memoryview) -> tuple[str, str]:
    k = v = ""
    for num, _wt, value in fields(buf):
        if num == 1:
            k = text(value, "name")
        elif num == 2:
            v = text(value, "value")
    return k, v


def _proto_entry(buf: memoryview) -> tuple[float, str, dict[str, str]]:
    seconds = nanos = 0
    line = ""
    meta: dict[str, str] = {}
    for num, _wt, value in fields(buf):
        if num == 1 and isinstance(value, memoryview):
            for n2, _w2, v2 in fields(value):
                if n2 == 1:
                    seconds = signed64(number(v2, "timestamp seconds"))
                elif n2 == 2:
                    nanos = number(v2, "timestamp nanos")
        elif num == 2 and isinstance(value, memoryview):
            # Promtail and Alloy send a file's bytes as they are: Loki keeps a line that is not UTF-8, its bad
            # bytes as U+FFFD (as the miner decodes bytes); refusing the line lost it
            line = bytes(value).decode("utf-8", errors="replace")
        elif num == 3 and isinstance(value, memoryview):
            k, v = _pairs(value)
            if k:
                meta[k] = v
    return seconds + nanos / 1e9, line, meta


def _stream_labels(limits: Limits, label_text: str) -> tuple[dict[str, str], str | None, str | None]:
    try:
        labels = limits.labels(parse_label_set(label_text), "stream")
        return labels, _level(labels), None
    except InvalidInputError as exc:
        return {}, None, exc.message


def decode_loki_proto(body: bytes, limits: Limits, now: float, max_bytes: int = 64 << 20) -> Decoded:
    raw = decompress(body, max_bytes)
    out = Decoded()
    index = 0
    for num, _wt, stream in fields(raw):
        if num != 1 or not isinstance(stream, memoryview):
            continue
        label_text = ""
        entries: list[memoryview] = []
        for n2, _w2, v2 in fields(stream):
            if n2 == 1 and isinstance(v2, memoryview):
                label_text = text(v2, "stream labels")
            elif n2 == 2 and isinstance(v2, memoryview):
                entries.append(v2)
        labels, severity, bad = _stream_labels(limits, label_text)
        for entry in entries:
            out.items += 1
            try:
                if bad:
                    raise InvalidInputError(bad)
                t, line, meta = _proto_entry(entry)
                meta = limits.labels(meta, "metadata") if meta else {}
                _entry(out, limits, labels, t, line, meta or None, now, severity)
            except InvalidInputError as exc:
                out.reject(index, exc.message)
            index += 1
    return out
