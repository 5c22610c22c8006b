"""The instrumentation scope of a log record (the logger that wrote it: Python's logger name, a Java class)
is kept in its evidence, from the real SDK's protobuf export as from OTLP/JSON."""

from __future__ import annotations

import time

import httpx
from tests.aiops.ingestion._helpers import API, otel_logger, signals


def test_logs_json_scope_name_and_version_go_to_evidence(client) -> None:  # noqa: ANN001
    now = str(time.time_ns())
    body = {"resourceLogs": [{"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "cart"}}]},
                              "scopeLogs": [
                                  {"scope": {"name": "shop.cart", "version": "1.2"},
                                   "logRecords": [{"timeUnixNano": now, "body": {"stringValue": "cart saved"}}]},
                                  {"logRecords": [{"timeUnixNano": now, "body": {"stringValue": "no scope"}}]}]}]}
    assert client.post("/v1/logs", json=body).status_code == 200
    rows = {s["text"]: s for s in signals(client, kind="log")}
    assert rows["cart saved"]["evidence"]["scope"] == {"name": "shop.cart", "version": "1.2"}
    assert "scope" not in rows["no scope"]["evidence"]
    assert rows["cart saved"]["labels"] == {"service.name": "cart"}  # labels (and so identity) unchanged


def test_real_sdk_logger_name_is_kept(server) -> None:  # noqa: ANN001
    with otel_logger(server.url, "scoped", "shop.payments.gateway") as logger:
        logger.warning("retrying charge %d", 7)
    rows = httpx.get(server.url + API + "/signals", params={"service": "scoped", "kind": "log"}).json()["signals"]
    assert [(s["text"], s["evidence"]["scope"]["name"]) for s in rows] == [("retrying charge 7", "shop.payments.gateway")]
