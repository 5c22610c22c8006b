"""An OTLP log record's service is its resource's ``service.name`` (OpenTelemetry's semantic conventions): a
record attribute ``service`` (``logger.info(…, extra={"service": …})``) stays a label and no longer renames
the service, its templates or its anomalies. Only where the SDK had no service name (``unknown_service``)
does the attribute name it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
from tests.aiops.ingestion._helpers import API, otel_logger


def _logs(url: str) -> list[dict[str, Any]]:
    return httpx.get(url + API + "/signals", params={"kind": "log"}).json()["signals"]


def test_the_resource_service_name_wins_over_a_record_attribute(opsloop_server: Callable[..., Any]) -> None:
    server = opsloop_server()
    with otel_logger(server.url, "checkout", "shop.checkout") as logger:
        logger.warning("order %d refused by the payment provider", 7, extra={"service": "payments-api"})
    (row,) = _logs(server.url)
    assert row["service"] == "checkout"
    assert row["labels"]["service"] == "payments-api" and row["labels"]["service.name"] == "checkout"
    server.stop()  # the miner's templates are saved
    again = opsloop_server(server.data_dir)
    services = httpx.get(again.url + API + "/logs/services").json()["services"]
    assert [s["service"] for s in services] == ["checkout"]


def test_a_record_attribute_names_the_service_the_sdk_did_not(opsloop_server: Callable[..., Any]) -> None:
    from opentelemetry.sdk.resources import Resource

    assert Resource.create({}).attributes["service.name"].startswith("unknown_service")
    server = opsloop_server()
    with otel_logger(server.url, "", "shop.worker") as logger:
        logger.warning("job %d failed", 3, extra={"service": "worker"})
        logger.warning("report %d sent", 4, extra={"app": "reports"})  # any label that names a service
        logger.warning("nothing names me")
    rows = {r["text"]: r for r in _logs(server.url)}
    assert rows["job 3 failed"]["service"] == "worker"
    assert rows["job 3 failed"]["labels"]["service.name"].startswith("unknown_service")
    assert rows["report 4 sent"]["service"] == "reports"
    assert rows["nothing names me"]["service"].startswith("unknown_service")
