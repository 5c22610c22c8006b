"""A real sender: the OpenTelemetry SDK's OTLP/HTTP exporter, two services calling one another, an
opsloop server in its own process. The traced edge then groups an alert cascade into one incident."""

from __future__ import annotations

import time
from typing import Any

import httpx
from opentelemetry import propagate
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import SpanKind
from tests.aiops.ingestion._helpers import API, alert, am_payload
from tests.conftest import wait_until


def provider(service: str, url: str) -> TracerProvider:
    p = TracerProvider(resource=Resource.create({"service.name": service}))
    p.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=url + "/v1/traces", timeout=10)))
    return p


def test_sdk_exported_spans_teach_the_topology_and_group_a_cascade(opsloop_server: Any) -> None:
    server = opsloop_server()
    frontend, checkout = provider("frontend", server.url), provider("checkout", server.url)
    try:
        for _ in range(3):
            with frontend.get_tracer("web").start_as_current_span("GET /cart", kind=SpanKind.CLIENT):
                carrier: dict[str, str] = {}
                propagate.inject(carrier)  # what an instrumented HTTP client puts in the request headers
                # ... and what the instrumented server of the other service reads from them
                ctx = propagate.extract(carrier)
                with checkout.get_tracer("api").start_as_current_span("cart", context=ctx, kind=SpanKind.SERVER):
                    pass
    finally:
        frontend.shutdown()
        checkout.shutdown()
    with httpx.Client(base_url=server.url, timeout=30) as http:
        edges = wait_until(lambda: http.get(API + "/topology").json()["traced"], timeout=30)
        assert [(e["source"], e["target"], e["calls"]) for e in edges] == [("frontend", "checkout", 3)]
        t = time.time()
        am = API + "/ingest/alertmanager"
        assert http.post(am, json=am_payload([alert("CartErrors", "checkout", start=t)])).status_code == 200
        http.post(am, json=am_payload([alert("SlowPages", "frontend", start=t + 15),
                                       alert("DiskFull", "billing", start=t + 20)]))
        incs = {i["service"]: i for i in http.get(API + "/incidents").json()["incidents"]}
        assert set(incs) == {"checkout", "billing"}
        assert incs["checkout"]["services"] == ["checkout", "frontend"]
