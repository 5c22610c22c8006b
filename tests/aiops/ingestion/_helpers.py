"""Builders shared by the AIOps tests: an app on a fresh embedded store, Alertmanager payloads."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from opsloop.server.app import create_app
from opsloop.settings import load_settings

API = "/api/opsloop/v1"


@contextmanager
def aiops_client(tmp_path: Path, **ingestion: Any) -> Iterator[TestClient]:
    settings = load_settings({"storage": {"data_dir": str(tmp_path / "data")}, "ingestion": ingestion}, environ={})
    with TestClient(create_app(settings)) as client:
        yield client


def iso(t: float) -> str:
    whole = int(t)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)) + f".{int((t - whole) * 1e9):09d}Z"


def alert(name: str, service: str, *, status: str = "firing", start: float | None = None, end: float | None = None,
          severity: str = "critical", **labels: str) -> dict[str, Any]:
    start = time.time() if start is None else start
    return {
        "status": status,
        "labels": {"alertname": name, "service": service, "severity": severity, **labels},
        "annotations": {"summary": f"{name} on {service}"},
        "startsAt": iso(start),
        "endsAt": iso(end if end is not None else start + 60) if status == "resolved" else "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus.example/graph",
        "fingerprint": f"{abs(hash((name, service))) % 10**16:016x}",
    }


def am_payload(alerts: list[dict[str, Any]], status: str | None = None) -> dict[str, Any]:
    return {
        "version": "4", "groupKey": '{}:{alertname="x"}', "truncatedAlerts": 0,
        "status": status or ("resolved" if all(a["status"] == "resolved" for a in alerts) else "firing"),
        "receiver": "opsloop", "groupLabels": {}, "commonLabels": {}, "commonAnnotations": {},
        "externalURL": "http://alertmanager.example", "alerts": alerts,
    }


def incidents(client: TestClient, **params: Any) -> list[dict[str, Any]]:
    r = client.get(API + "/incidents", params=params)
    assert r.status_code == 200, r.text
    return r.json()["incidents"]


def signals(client: TestClient, **params: Any) -> list[dict[str, Any]]:
    r = client.get(API + "/signals", params={"limit": 5000, **params})
    assert r.status_code == 200, r.text
    return r.json()["signals"]


@contextmanager
def otel_logger(url: str, service: str, name: str) -> Iterator[logging.Logger]:
    """A Python logger whose records the OpenTelemetry SDK exports to the server at ``url`` (OTLP/HTTP
    protobuf), as an instrumented ``service``'s are; each record is sent as it is logged, and the provider
    is shut down when the block ends."""
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
    from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
    from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
    from opentelemetry.sdk.resources import Resource

    provider = LoggerProvider(resource=Resource.create({"service.name": service}))
    provider.add_log_record_processor(SimpleLogRecordProcessor(OTLPLogExporter(endpoint=url + "/v1/logs")))
    logger = logging.getLogger(name)
    logger.propagate = False
    handler = LoggingHandler(logger_provider=provider)
    logger.addHandler(handler)
    try:
        yield logger
    finally:
        provider.shutdown()
        logger.removeHandler(handler)
