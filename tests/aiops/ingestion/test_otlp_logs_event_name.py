"""An OpenTelemetry event (a log record with an ``eventName``: the events API, GenAI and browser
instrumentations) keeps its name: in the evidence, and as the text where the body is empty."""

from __future__ import annotations

import time

from google.protobuf.json_format import ParseDict
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from tests.aiops.ingestion._helpers import signals


def _export() -> dict:
    now = str(time.time_ns())
    return {"resourceLogs": [{"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "web"}}]},
                              "scopeLogs": [{"logRecords": [
                                  {"timeUnixNano": now, "eventName": "session.start",
                                   "attributes": [{"key": "session.id", "value": {"stringValue": "s-1"}}]},
                                  {"timeUnixNano": now, "eventName": "gen_ai.user.message",
                                   "body": {"stringValue": "what is my order status"}},
                                  {"timeUnixNano": now, "body": {"stringValue": "plain log"}}]}]}]}


def _check(rows: list[dict]) -> None:
    by_text = {s["text"]: s for s in rows}
    assert sorted(by_text) == ["plain log", "session.start", "what is my order status"]
    assert by_text["session.start"]["evidence"]["eventName"] == "session.start"
    assert by_text["what is my order status"]["evidence"]["eventName"] == "gen_ai.user.message"
    assert "eventName" not in by_text["plain log"]["evidence"]


def test_json_event_name(client) -> None:  # noqa: ANN001
    assert client.post("/v1/logs", json=_export()).json() == {}
    _check(signals(client, kind="log"))


def test_protobuf_event_name(client) -> None:  # noqa: ANN001
    body = ParseDict(_export(), ExportLogsServiceRequest()).SerializeToString()
    assert client.post("/v1/logs", content=body, headers={"content-type": "application/x-protobuf"}).status_code == 200
    _check(signals(client, kind="log"))


def test_event_name_that_is_no_string_is_refused_naming_it(client) -> None:  # noqa: ANN001
    body = _export()
    body["resourceLogs"][0]["scopeLogs"][0]["logRecords"][0]["eventName"] = 5
    partial = client.post("/v1/logs", json=body).json()["partialSuccess"]
    assert partial["rejectedLogRecords"] == "1" and "'eventName'" in partial["errorMessage"]
