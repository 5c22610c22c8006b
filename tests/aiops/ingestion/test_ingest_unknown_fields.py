"""Unknown fields are ignored in every format (forward compatibility), not refused."""

from __future__ import annotations

import time

import cramjam
from tests.aiops.ingestion._helpers import signals

from opsloop.aiops.ingestion.remote_write import encode_remote_write


def _v(n: int) -> bytes:
    out = bytearray()
    while True:
        b, n = n & 0x7F, n >> 7
        out.append(b | 0x80 if n else b)
        if not n:
            return bytes(out)


def test_otlp_json_unknown_fields(client) -> None:  # noqa: ANN001
    body = {"resourceLogs": [{"resource": {"attributes": [], "droppedAttributesCount": 0, "futureThing": 1},
                              "schemaUrl": "https://opentelemetry.io/schemas/1.30.0",
                              "scopeLogs": [{"scope": {"name": "x", "version": "1"}, "newField": [1],
                                             "logRecords": [{"body": {"stringValue": "hi"}, "flags": 1,
                                                             "eventName": "e", "somethingNew": {"a": 1}}]}]}],
            "topLevelNew": True}
    r = client.post("/v1/logs", json=body)
    assert r.status_code == 200 and r.json() == {}
    assert [s["text"] for s in signals(client, kind="log")] == ["hi"]


def test_loki_json_unknown_fields(client) -> None:  # noqa: ANN001
    ns = str(int(time.time() * 1e9))
    r = client.post("/loki/api/v1/push", json={"streams": [{"stream": {"job": "a"}, "values": [[ns, "x"]],
                                                            "extra": 1}], "more": "x"})
    assert r.status_code == 204


def test_remote_write_unknown_protobuf_fields(client) -> None:  # noqa: ANN001
    raw = bytes(cramjam.snappy.decompress_raw(encode_remote_write([({"__name__": "up", "job": "a"},
                                                                     [(time.time(), 1.0)])])))
    extra = _v(99 << 3 | 0) + _v(7) + _v(98 << 3 | 2) + _v(3) + b"abc"  # a varint and a bytes field we do not know
    body = bytes(cramjam.snappy.compress_raw(raw + extra))
    r = client.post("/api/v1/write", content=body, headers={"content-type": "application/x-protobuf",
                                                             "content-encoding": "snappy"})
    assert r.status_code == 204, r.text
    assert [s["labels"]["__name__"] for s in signals(client, kind="metric")] == ["up"]
