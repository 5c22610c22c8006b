"""Compressed bodies: every Content-Encoding an OTLP/HTTP sender may use (the OpenTelemetry Collector's
``compression``: gzip, deflate, zlib, zstd, snappy framed or block) is undone before decoding; a body
that is not what it says, or that expands past ``server.max_body_bytes``, is a 400 saying so (as a body
over the limit is), an unknown encoding a 400 naming ``content-encoding``. Protocols whose body is snappy by design
(remote_write, Loki's protobuf push) still take it as it comes."""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

import cramjam
import orjson
import pytest
from fastapi.testclient import TestClient
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from tests.aiops.ingestion._helpers import signals
from tests.aiops.ingestion.test_ingest_otlp import logs_json, record

from opsloop.server.app import create_app
from opsloop.settings import load_settings

ENCODERS: dict[str, Callable[[bytes], bytes]] = {
    "gzip": gzip.compress,
    "deflate": zlib.compress,
    "zlib": zlib.compress,
    "zstd": lambda b: bytes(cramjam.zstd.compress(b)),
    "snappy": lambda b: bytes(cramjam.snappy.compress(b)),  # framed (the Collector before v0.125)
    "snappy-block": lambda b: bytes(cramjam.snappy.compress_raw(b)),  # block (the Collector's framedSnappy gate off)
}


def _encoding(name: str) -> str:
    return name.split("-")[0]


@pytest.fixture
def small(tmp_path: Path) -> Iterator[TestClient]:
    """A server whose bodies may be 64 KiB at most (decompressed too)."""
    s = load_settings({"storage": {"data_dir": str(tmp_path)}, "server": {"max_body_bytes": 65536}}, environ={})
    with TestClient(create_app(s)) as c:
        yield c


@pytest.mark.parametrize("name", list(ENCODERS))
def test_an_otlp_body_in_each_encoding_is_decoded(small: TestClient, name: str) -> None:
    encode = ENCODERS[name]
    as_json = orjson.dumps(logs_json([record(f"json {name}")]))
    r = small.post("/v1/logs", content=encode(as_json),
                   headers={"content-type": "application/json", "content-encoding": _encoding(name)})
    assert r.status_code == 200, r.text
    proto = ExportLogsServiceRequest()
    log = proto.resource_logs.add().scope_logs.add().log_records.add()
    log.body.string_value = f"protobuf {name}"
    r = small.post("/v1/logs", content=encode(proto.SerializeToString()),
                   headers={"content-type": "application/x-protobuf", "content-encoding": _encoding(name)})
    assert r.status_code == 200, r.text
    assert sorted(s["text"] for s in signals(small, kind="log")) == [f"json {name}", f"protobuf {name}"]


@pytest.mark.parametrize("name", list(ENCODERS))
def test_a_body_that_expands_past_the_limit_or_is_not_what_it_says_is_400(small: TestClient, name: str) -> None:
    bomb = orjson.dumps(logs_json([record("x" * 1_000_000)]))  # 1 MB that compresses under 64 KB (snappy: 47 KB)
    r = small.post("/v1/logs", content=ENCODERS[name](bomb),
                   headers={"content-type": "application/json", "content-encoding": _encoding(name)})
    assert r.status_code == 400 and "decompressed body exceeds 65536 bytes" in r.json()["message"], r.text
    r = small.post("/v1/logs", content=b"\x00\x01 not compressed at all" * 10,
                   headers={"content-type": "application/json", "content-encoding": _encoding(name)})
    assert r.status_code == 400 and "body is not valid" in r.json()["message"], r.text
    assert signals(small, kind="log") == []


def test_an_unknown_encoding_names_the_header(small: TestClient) -> None:
    r = small.post("/api/opsloop/v1/events", content=b"{}", headers={"content-type": "application/json",
                                                                      "content-encoding": "br"})
    assert r.status_code == 400 and r.json()["field"] == "content-encoding"
    assert "zstd" in r.json()["message"]


def test_a_large_body_of_a_small_compressed_size_is_decoded_whole(tmp_path: Path) -> None:
    """The output buffer grows from a small start: a body that expands 1,000 times is still read whole."""
    s = load_settings({"storage": {"data_dir": str(tmp_path)}}, environ={})
    text = "y" * 3_000_000
    with TestClient(create_app(s)) as c:
        for name in ("zstd", "snappy"):
            body = ENCODERS[name](orjson.dumps(logs_json([record(text)], service=name)))
            assert len(body) < 300_000
            r = c.post("/v1/logs", content=body, headers={"content-type": "application/json",
                                                          "content-encoding": name})
            assert r.status_code == 200, r.text
        assert sorted(sig["service"] for sig in signals(c, kind="log")) == ["snappy", "zstd"]
