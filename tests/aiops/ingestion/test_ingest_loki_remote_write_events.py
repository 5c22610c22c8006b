"""Loki push (JSON, snappy protobuf), Prometheus remote_write, the generic events API, and their bad input."""

from __future__ import annotations

import struct
import time

import cramjam
import pytest
from tests.aiops.ingestion._helpers import API, incidents, signals

from opsloop.aiops.ingestion.remote_write import encode_remote_write

PB = {"content-type": "application/x-protobuf", "content-encoding": "snappy"}


def _v(n: int) -> bytes:
    out = bytearray()
    while True:
        b, n = n & 0x7F, n >> 7
        out.append(b | 0x80 if n else b)
        if not n:
            return bytes(out)


def _ld(num: int, payload: bytes) -> bytes:
    return _v(num << 3 | 2) + _v(len(payload)) + payload


def loki_proto(streams: list[tuple[str, list[tuple[float, str]]]]) -> bytes:
    msg = b""
    for labels, entries in streams:
        body = _ld(1, labels.encode())
        for t, line in entries:
            ts = _v(1 << 3) + _v(int(t)) + _v(2 << 3) + _v(int((t % 1) * 1e9))
            body += _ld(2, _ld(1, ts) + _ld(2, line.encode()) + _ld(3, _ld(1, b"trace_id") + _ld(2, b"abc")))
        msg += _ld(1, body)
    return bytes(cramjam.snappy.compress_raw(msg))


# --- Loki ----------------------------------------------------------------------------------------------
def test_loki_json(client) -> None:  # noqa: ANN001
    ns = str(int(time.time() * 1e9))
    body = {"streams": [{"stream": {"service": "api", "level": "error"},
                         "values": [[ns, "boom"], [ns, "with meta", {"trace_id": "t1"}]]}]}
    r = client.post("/loki/api/v1/push", json=body)
    assert r.status_code == 204, r.text
    rows = {s["text"]: s for s in signals(client, kind="log")}
    assert rows["boom"]["severity"] == "error" and rows["boom"]["service"] == "api"
    assert rows["with meta"]["evidence"]["metadata"] == {"trace_id": "t1"}


def test_loki_protobuf(client) -> None:  # noqa: ANN001
    t = time.time()
    body = loki_proto([('{service="web", level="warn"}', [(t, "slow request"), (t + 0.5, "slower")])])
    r = client.post("/loki/api/v1/push", content=body, headers=PB)
    assert r.status_code == 204, r.text
    rows = signals(client, kind="log")
    assert sorted(s["text"] for s in rows) == ["slow request", "slower"]
    assert all(s["labels"] == {"service": "web", "level": "warn"} and s["severity"] == "warning" for s in rows)
    assert all(s["evidence"]["metadata"] == {"trace_id": "abc"} for s in rows)


def test_loki_protobuf_label_values_are_read_as_go_quotes_them(client) -> None:  # noqa: ANN001
    """Promtail writes the stream's label set with Go's strconv.Quote: printable non-ASCII text as it is,
    quotes and backslashes escaped, other characters as \\n, \\t or \\u escapes."""
    labels = r'{service="web", file="/var/log/données \"ancien\".log", note="a\tb\u00e9\\c"}'
    r = client.post("/loki/api/v1/push", content=loki_proto([(labels, [(time.time(), "line")])]), headers=PB)
    assert r.status_code == 204, r.text
    [row] = signals(client, kind="log")
    assert row["labels"] == {"service": "web", "file": '/var/log/données "ancien".log', "note": "a\tbé\\c"}


def test_loki_bad_input(client) -> None:  # noqa: ANN001
    ns = str(int(time.time() * 1e9))
    assert client.post("/loki/api/v1/push", content=b"{", headers={"content-type": "application/json"}
                       ).status_code == 400
    assert client.post("/loki/api/v1/push", json={"streams": "x"}).status_code == 400
    assert client.post("/loki/api/v1/push", content=b"plain", headers={"content-type": "text/plain"}
                       ).status_code == 400
    assert client.post("/loki/api/v1/push", content=b"\x00\x01 not snappy", headers=PB).status_code == 400
    bad_labels = bytes(cramjam.snappy.compress_raw(_ld(1, _ld(1, b"service=web") + _ld(2, _ld(2, b"line")))))
    r = client.post("/loki/api/v1/push", content=bad_labels, headers=PB)
    assert r.status_code == 400
    future = str(int((time.time() + 40 * 86400) * 1e9))
    r = client.post("/loki/api/v1/push", json={"streams": [{"stream": {"service": "a"}, "values": [
        [ns, "kept"], [future, "future"], ["soon", "bad ts"], [ns]]}]})
    assert r.status_code == 400
    assert r.json()["accepted"] == 1 and len(r.json()["rejected"]) == 3
    assert [s["text"] for s in signals(client, kind="log")] == ["kept"]


def test_loki_protobuf_timestamp_of_the_wrong_wire_type_rejects_that_entry(client) -> None:  # noqa: ANN001
    t = time.time()
    good = _ld(2, _ld(1, _v(1 << 3) + _v(int(t))) + _ld(2, b"kept"))
    bad = _ld(2, _ld(1, _ld(1, b"12345678")) + _ld(2, b"bad ts"))  # seconds sent as bytes, not a varint
    body = bytes(cramjam.snappy.compress_raw(_ld(1, _ld(1, b'{service="web"}') + good + bad)))
    r = client.post("/loki/api/v1/push", content=body, headers=PB)
    assert r.status_code == 400
    assert r.json()["accepted"] == 1 and "timestamp seconds" in str(r.json()["rejected"])
    assert [s["text"] for s in signals(client, kind="log")] == ["kept"]


# --- remote_write ------------------------------------------------------------------------------------
def test_remote_write(client) -> None:  # noqa: ANN001
    now = time.time()
    body = encode_remote_write([
        ({"__name__": "http_requests_total", "job": "api", "code": "500"}, [(now - 2, 10.0), (now - 1, 12.0)]),
        ({"__name__": "up", "job": "api"}, [(now, 1.0)]),
    ])
    r = client.post("/api/v1/write", content=body, headers=PB)
    assert r.status_code == 204, r.text
    series = {s["labels"]["__name__"]: s for s in signals(client, kind="metric")}
    assert series["http_requests_total"]["values"] == {"value": 12.0}
    assert series["http_requests_total"]["count"] == 1  # one row per series, latest sample
    assert series["up"]["source"] == "remote_write" and series["up"]["service"] == "api"
    client.post("/api/v1/write", content=encode_remote_write([({"__name__": "up", "job": "api"}, [(now + 1, 0.0)])]),
                headers=PB)
    up = [s for s in signals(client, kind="metric") if s["labels"]["__name__"] == "up"]
    assert len(up) == 1 and up[0]["values"] == {"value": 0.0} and up[0]["count"] == 2


def test_remote_write_stale_markers_dropped(client) -> None:  # noqa: ANN001
    stale = struct.unpack("<d", (0x7FF0000000000002).to_bytes(8, "little"))[0]
    body = encode_remote_write([({"__name__": "gone", "job": "x"}, [(time.time(), stale)])])
    assert client.post("/api/v1/write", content=body, headers=PB).status_code == 204
    assert signals(client, kind="metric") == []


def test_remote_write_bad_input(client) -> None:  # noqa: ANN001
    r = client.post("/api/v1/write", content=b"definitely not snappy", headers=PB)
    assert r.status_code == 400 and "snappy" in r.json()["message"]
    not_proto = bytes(cramjam.snappy.compress_raw(b"\x0a\xff\xff\xff\x0f"))
    r = client.post("/api/v1/write", content=not_proto, headers=PB)
    assert r.status_code == 400 and "protobuf" in r.json()["message"]
    now = time.time()
    body = encode_remote_write([({"job": "no-name"}, [(now, 1.0)]),
                                ({"__name__": "future", "job": "x"}, [(now + 86400 * 30, 1.0)]),
                                ({"__name__": "ok", "job": "x"}, [(now, 1.0)])])
    r = client.post("/api/v1/write", content=body, headers=PB)
    assert r.status_code == 400 and len(r.json()["rejected"]) == 2
    assert [s["labels"]["__name__"] for s in signals(client, kind="metric")] == ["ok"]
    huge = cramjam.snappy.compress_raw(b"\x00" * 10)
    bomb = b"\xff\xff\xff\xff\x0f" + bytes(huge)[1:]
    assert client.post("/api/v1/write", content=bomb, headers=PB).status_code == 400


def test_remote_write_2_is_refused_with_415_not_dropped(client) -> None:  # noqa: ANN001
    """A Prometheus 3 sending remote write 2.0 (io.prometheus.write.v2.Request) gets the 415 its spec asks
    of a receiver without 2.0, not a 204 for a body read as an empty 1.0 WriteRequest (all dropped)."""
    body = encode_remote_write([({"__name__": "up", "job": "api"}, [(time.time(), 1.0)])])
    v2 = {"content-type": "application/x-protobuf;proto=io.prometheus.write.v2.Request",
          "content-encoding": "snappy", "x-prometheus-remote-write-version": "2.0.0"}
    r = client.post("/api/v1/write", content=body, headers=v2)
    assert r.status_code == 415 and r.json()["field"] == "content-type", r.text
    assert "prometheus.WriteRequest" in r.json()["message"]
    assert signals(client, kind="metric") == []
    v1 = {"content-type": "application/x-protobuf; proto=prometheus.WriteRequest", "content-encoding": "snappy"}
    assert client.post("/api/v1/write", content=body, headers=v1).status_code == 204
    assert len(signals(client, kind="metric")) == 1


# --- events ------------------------------------------------------------------------------------------
def test_events_context_joins_open_incident_but_opens_none(client) -> None:  # noqa: ANN001
    from tests.aiops.ingestion._helpers import alert, am_payload

    r = client.post(API + "/events", json={"kind": "event", "service": "checkout", "text": "deployed 1.4.2",
                                           "labels": {"type": "deploy", "version": "1.4.2"}})
    assert r.status_code == 200 and r.json()["accepted"] == 1
    assert incidents(client) == []
    client.post(API + "/ingest/alertmanager", json=am_payload([alert("Errors", "checkout")]))
    r = client.post(API + "/events", json={"events": [{"service": "checkout", "text": "config change: pool=5",
                                                       "labels": {"type": "config"}}]})
    [inc] = incidents(client)
    assert inc["signal_count"] == 2
    detail = client.get(f"{API}/incidents/{inc['id']}").json()
    assert {s["kind"] for s in detail["signals"]} == {"alert", "event"}


def test_events_model_drift_opens_incident(client) -> None:  # noqa: ANN001
    r = client.post(API + "/events", json=[{"kind": "model_drift", "source": "monitor:drift", "service": "fraud-model",
                                            "severity": "error", "text": "PSI 0.31 on amount",
                                            "values": {"psi": 0.31}, "unknown_field": True}])
    assert r.status_code == 200
    [inc] = incidents(client)
    assert inc["service"] == "fraud-model" and inc["severity"] == "error"


@pytest.mark.parametrize("body,fragment", [
    ({"kind": "nope"}, "unknown kind"),
    ({"time": "yesterday"}, "time"),
    ({"time": time.time() + 86400 * 30}, "future"),
    ({"labels": {"a": {"nested": 1}}}, "strings"),
    ({"values": {"psi": "high"}}, "finite number"),
    ({"status": "maybe"}, "status"),
    ({"evidence": {"blob": "x" * 70_000}}, "larger"),
    ({"labels": {"k": "v" * 5000}}, "longer than"),
])
def test_events_bad_input(client, body: dict, fragment: str) -> None:  # noqa: ANN001
    r = client.post(API + "/events", json=body)
    assert r.status_code == 400, r.text
    assert fragment in r.json()["rejected"][0]["reason"]


def test_events_malformed(client) -> None:  # noqa: ANN001
    assert client.post(API + "/events", content=b"{{", headers={"content-type": "application/json"}
                       ).status_code == 400
    assert client.post(API + "/events", json="a string").status_code == 400
    assert client.post(API + "/events", json={"events": "x"}).status_code == 400


def test_real_loki_client(server) -> None:  # noqa: ANN001
    """python-logging-loki's handler (Loki push API v1, JSON) against a running server."""
    logging_loki = pytest.importorskip("logging_loki", reason="python-logging-loki is not installed")
    import logging

    import httpx

    handler = logging_loki.LokiHandler(url=server.url + "/loki/api/v1/push", tags={"service": "loki-app"},
                                       version="1")
    logger = logging.getLogger("loki-e2e")
    logger.propagate = False
    logger.addHandler(handler)
    logger.error("checkout failed: card declined", extra={"tags": {"order": "42"}})
    logger.warning("slow response from payments")
    rows = httpx.get(server.url + API + "/signals", params={"service": "loki-app"}).json()["signals"]
    by_text = {s["text"]: s for s in rows}
    assert set(by_text) == {"checkout failed: card declined", "slow response from payments"}
    assert by_text["checkout failed: card declined"]["severity"] == "error"
    assert by_text["checkout failed: card declined"]["labels"]["order"] == "42"
    assert by_text["slow response from payments"]["severity"] == "warning"
    assert all(s["source"] == "loki" and s["kind"] == "log" for s in rows)
