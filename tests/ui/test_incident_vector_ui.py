"""A multivariate (service_rules) anomaly on the incident page: a card listing the service's metrics, the
one that moved most first, rather than an empty chart."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.ui.conftest import shot

pytestmark = pytest.mark.browser


def test_a_service_vector_anomaly_lists_its_metrics_by_deviation(page, ui_server) -> None:  # noqa: ANN001
    from playwright.sync_api import expect

    event = {"time": time.time(), "kind": "metric_anomaly", "source": "detector:multivariate", "service": "cart",
             "labels": {"service": "cart", "rule": "svc"}, "severity": "error",
             "text": "cart: unusual combination of metrics (latency_ms z=+7.3, errors z=+1.0)",
             "values": {"score": 0.99995},
             "evidence": {"observed": {"rps": 102.7, "latency_ms": 110.2, "errors": 0.75},
                          "deviations": {"latency_ms": 7.3, "errors": 1.0, "rps": 0.05}, "probability": 0.99995}}
    resp = httpx.post(f"{ui_server.url}/api/opsloop/v1/events", json=event)
    assert resp.status_code < 300, resp.text
    [incident] = httpx.get(f"{ui_server.url}/api/opsloop/v1/incidents", params={"service": "cart"}).json()["incidents"]
    page.goto(f"/#/incidents/{incident['id']}")
    card = page.locator(".metric-vector")
    expect(card).to_have_count(1)
    expect(card.locator("h3")).to_have_text("cart · metrics together")
    expect(card.locator("tbody tr")).to_have_count(3)
    expect(card.locator("tbody tr").first.locator("td").first).to_have_text("latency_ms")
    expect(card.locator("tbody tr").first.locator("td").nth(2)).to_have_text("+7.3")
    expect(page.locator(".metric-anomaly")).to_have_count(0)  # no empty chart beside it
    shot(page, "incident-vector")
    assert not page.js_errors
