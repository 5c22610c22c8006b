"""A log record's service is its resource's: a record attribute that happens to be called ``service`` (the
remote service a call went to, say) does not move the record to another service."""

from __future__ import annotations

import time

from tests.aiops.ingestion._helpers import signals


def _kv(key: str, value: str) -> dict:
    return {"key": key, "value": {"stringValue": value}}


def test_record_attribute_named_service_does_not_override_the_resource(client) -> None:  # noqa: ANN001
    now = str(time.time_ns())
    body = {"resourceLogs": [
        {"resource": {"attributes": [_kv("service.name", "checkout")]},
         "scopeLogs": [{"logRecords": [{"timeUnixNano": now, "body": {"stringValue": "calling stripe failed"},
                                        "attributes": [_kv("service", "stripe")]}]}]},
        {"resource": {"attributes": [_kv("host.name", "node-1")]},  # no service in the resource: the record's
         "scopeLogs": [{"logRecords": [{"timeUnixNano": now, "body": {"stringValue": "cron ran"},
                                        "attributes": [_kv("service", "cron")]}]}]},
    ]}
    assert client.post("/v1/logs", json=body).json() == {}
    rows = {s["text"]: s for s in signals(client, kind="log")}
    assert rows["calling stripe failed"]["service"] == "checkout"
    assert rows["calling stripe failed"]["labels"]["service"] == "stripe"
    assert rows["cron ran"]["service"] == "cron"
