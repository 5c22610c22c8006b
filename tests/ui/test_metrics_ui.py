"""Metrics page: samples sent with remote_write to a real server, listed, charted with their anomalies."""

from __future__ import annotations

import random
import re
import time

import httpx
import pytest

from opsloop.aiops.ingestion.remote_write import encode_remote_write
from tests.ui.conftest import shot

pytestmark = pytest.mark.browser

API = "/api/opsloop/v1"
PB = {"content-type": "application/x-protobuf", "content-encoding": "snappy"}


@pytest.fixture(scope="module")
def latency(ui_server) -> dict:  # noqa: ANN001
    """600 latency samples with a spike, watched by a detector; and a quiet second series."""
    url = ui_server.url
    rules = [{"name": "api-latency", "selector": 'latency_ms{job="api"}'}]
    assert httpx.put(url + API + "/aiops/config/watch_rules", json=rules).status_code == 200
    rnd = random.Random(3)
    t0 = time.time() - 3000
    points = [(t0 + i * 5, 100 + rnd.gauss(0, 2) + (400 if 500 <= i < 520 else 0)) for i in range(600)]
    for k in range(0, len(points), 100):
        body = encode_remote_write([({"__name__": "latency_ms", "job": "api"}, points[k:k + 100]),
                                    ({"__name__": "queue_depth", "job": "worker"}, [(t, 3.0) for t, _v in points[k:k + 100]])])
        assert httpx.post(url + "/api/v1/write", content=body, headers=PB).status_code == 204
    anomalies = httpx.get(url + API + "/signals", params={"kind": "metric_anomaly"}).json()["signals"]
    assert anomalies, "the detector raised nothing on the spike"
    (series,) = httpx.get(url + API + "/metrics/series", params={"name": "latency_ms"}).json()["series"]
    return {"series": series, "anomalies": len(anomalies)}


def test_metrics_page_lists_series_and_charts_one_with_its_anomalies(page, latency) -> None:  # noqa: ANN001
    from playwright.sync_api import expect

    page.goto("/#/metrics")
    rows = page.locator("#series-table tbody tr")
    expect(rows).to_have_count(2)
    expect(page.locator("#metric-chart")).to_contain_text("Pick a series")
    page.locator("#series-table a.series-link", has_text="latency_ms").click()
    chart = page.locator("#metric-chart")
    expect(chart).to_contain_text("latency_ms · api")
    expect(chart).to_contain_text("600 samples")
    expect(chart.locator("svg.chart polyline")).to_have_count(1)
    expect(chart.locator("svg.chart circle.anomaly").first).to_be_visible()  # the spike is marked
    expect(page).to_have_url(re.compile(rf"series={latency['series']['series']}"))
    shot(page, "metrics-series-chart")

    # A shorter range keeps fewer samples; a filter narrows the table; the link reproduces the view.
    page.locator("#metric-range").select_option("15m")
    expect(chart).to_contain_text("samples")
    expect(chart).not_to_contain_text("600 samples")
    page.locator("#metric-name").fill("queue")
    page.locator("#metric-name").press("Enter")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("worker")
    expect(chart).to_contain_text("queue_depth · worker")  # the only match is charted
    page.locator("#metric-name").fill("no-such-metric")
    page.locator("#metric-name").press("Enter")
    expect(page.locator("#metric-series")).to_contain_text("No series matches these filters")
    assert page.js_errors == []


def test_incident_page_charts_the_anomalous_series_from_its_history(page, latency, ui_server) -> None:  # noqa: ANN001
    from playwright.sync_api import expect

    anomalies = httpx.get(ui_server.url + API + "/signals", params={"kind": "metric_anomaly"}).json()["signals"]
    spike = max(anomalies, key=lambda s: s["values"].get("observed", 0))
    assert spike["evidence"]["series"] == latency["series"]["series"]
    page.goto(f"/#/incidents/{spike['incident_id']}")
    card = page.locator("section.metric-anomaly").first
    expect(card).to_contain_text("latency_ms")
    # Drawn from the stored samples: one line through hundreds of points, not just the anomalous ones.
    line = card.locator("svg.chart polyline")
    expect(line).to_have_count(1)
    page.wait_for_function(
        "() => (document.querySelector('section.metric-anomaly svg.chart polyline')"
        "?.getAttribute('points') || '').split(' ').length > 100")
    card.locator("a.series-history").click()
    expect(page).to_have_url(re.compile(rf"#/metrics\?series={latency['series']['series']}"))
    expect(page.locator("#metric-chart")).to_contain_text("latency_ms · api")
    shot(page, "metrics-from-incident")
    assert page.js_errors == []


def test_a_series_with_a_long_label_value_charts_within_the_window(page, ui_server) -> None:  # noqa: ANN001
    # The labels line above the chart never wrapped: a 400-character path label made the page 3,400 px wide.
    from playwright.sync_api import expect

    labels = {"__name__": "route_latency_ms", "job": "edge", "path": "/" + "segment/" * 50}
    body = encode_remote_write([(labels, [(time.time() - 60 + i, 10.0 + i) for i in range(5)])])
    assert httpx.post(ui_server.url + "/api/v1/write", content=body, headers=PB).status_code == 204
    (series,) = httpx.get(ui_server.url + API + "/metrics/series", params={"name": "route_latency_ms"}).json()["series"]
    page.goto(f"/#/metrics?series={series['series']}&name=route_latency_ms")
    expect(page.locator("#metric-chart")).to_contain_text("5 samples")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    assert page.js_errors == []


def test_a_link_to_a_series_past_the_first_500_charts_it_and_an_unknown_one_says_so(page, ui_server) -> None:  # noqa: ANN001
    # The page looked for a linked series (an incident's "Full series history") in the first 500 of its name
    # only: a metric with a series per pod showed "Pick a series" for the rest, and so did an unknown one.
    from playwright.sync_api import expect

    now = time.time()
    body = encode_remote_write([({"__name__": "pod_cpu", "job": "k8s", "pod": f"web-{i:04d}"}, [(now - 30, i), (now, i)])
                                for i in range(520)])
    assert httpx.post(ui_server.url + "/api/v1/write", content=body, headers=PB).status_code == 204
    every = httpx.get(ui_server.url + API + "/metrics/series", params={"name": "pod_cpu", "limit": 5000}).json()["series"]
    late = every[510]
    page.goto(f"/#/metrics?series={late['series']}&name=pod_cpu")
    chart = page.locator("#metric-chart")
    expect(chart).to_contain_text(f'pod="{late["labels"]["pod"]}"')
    expect(chart.locator("svg.chart")).to_be_visible()
    page.goto("/#/metrics?series=0123456789abcdef&name=pod_cpu")
    expect(chart).to_contain_text("No series 0123456789abcdef here")
    assert page.js_errors == []


def test_a_linked_series_is_fetched_by_its_fingerprint_however_many_share_its_name(page, ui_server) -> None:  # noqa: ANN001
    # The page scanned the first 5,000 series of the name for a linked one: a fleet with more pods than that
    # showed "No series … here" for the rest. It now asks for the series itself.
    from playwright.sync_api import expect

    now = time.time()
    body = encode_remote_write([({"__name__": "fleet_cpu", "job": "k8s", "pod": f"w-{i:05d}"}, [(now, i)])
                                for i in range(5100)])
    assert httpx.post(ui_server.url + "/api/v1/write", content=body, headers=PB).status_code == 204
    every = httpx.get(ui_server.url + API + "/metrics/series", params={"name": "fleet_cpu", "limit": 5000,
                                                                        "offset": 5000}).json()["series"]
    last = every[-1]
    page.goto(f"/#/metrics?series={last['series']}&name=fleet_cpu")
    expect(page.locator("#metric-chart")).to_contain_text(f'pod="{last["labels"]["pod"]}"')
    assert page.js_errors == []
