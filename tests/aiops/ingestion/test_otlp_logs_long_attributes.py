"""A log record with an attribute longer than a label may be (the stack trace the SDK's
``logger.exception`` attaches) is kept: the label holds the value's start, the evidence all of it.
Such a record, the error itself, was refused."""

from __future__ import annotations

import time

import httpx
from tests.aiops.ingestion._helpers import API, otel_logger, signals


def test_long_record_attribute_is_cut_in_labels_and_kept_in_evidence(client) -> None:  # noqa: ANN001
    trace = "Traceback (most recent call last):\n" + "".join(
        f'  File "/srv/app/layer_{i}.py", line {i}, in call_{i}\n    return call_{i + 1}(x)\n' for i in range(120))
    assert len(trace.encode()) > 4096
    record = {"timeUnixNano": str(time.time_ns()), "severityNumber": 17, "body": {"stringValue": "sync crashed"},
              "attributes": [{"key": "exception.stacktrace", "value": {"stringValue": trace}},
                             {"key": "exception.type", "value": {"stringValue": "RuntimeError"}}]}
    body = {"resourceLogs": [{"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "orders"}}]},
                              "scopeLogs": [{"logRecords": [record]}]}]}
    assert client.post("/v1/logs", json=body).json() == {}
    [row] = signals(client, kind="log")
    label = row["labels"]["exception.stacktrace"]
    assert len(label.encode()) <= 4096 and label.endswith("…") and trace.startswith(label[:-1])
    assert row["evidence"]["attributes"] == {"exception.stacktrace": trace}
    assert row["labels"]["exception.type"] == "RuntimeError" and row["severity"] == "error"


def test_real_sdk_exception_with_a_deep_traceback_is_kept(server) -> None:  # noqa: ANN001
    src = "\n".join(f"def layer_{i}_of_the_service_stack(x):\n    return layer_{i + 1}_of_the_service_stack(x)"
                    for i in range(60))
    src += "\ndef layer_60_of_the_service_stack(x):\n    raise RuntimeError('database connection lost')"
    scope: dict = {}
    exec(compile(src, "/srv/app/orm/session_manager.py", "exec"), scope)  # noqa: S102 - sixty distinct frames
    with otel_logger(server.url, "deep-stack", "deep-stack") as logger:
        try:
            scope["layer_0_of_the_service_stack"](1)
        except RuntimeError:
            logger.exception("order sync crashed")
    rows = httpx.get(server.url + API + "/signals", params={"service": "deep-stack"}).json()["signals"]
    assert [(s["text"], s["severity"]) for s in rows] == [("order sync crashed", "error")]
    assert "database connection lost" in rows[0]["evidence"]["attributes"]["exception.stacktrace"]
