"""Deployments page in a browser: a model scored at /serving/... shows its traffic, latency and errors
over time; drift signals made by the real monitor show each feature's reference and live distributions."""

from __future__ import annotations

import time

import httpx
import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient

from opsloop.mlops.monitoring import DriftPolicy, PredictionSample, build_profile, compute_drift
from opsloop.mlops.monitoring.signals import drift_signals
from opsloop.server.deployments import SAMPLE_SECONDS
from tests.ui.conftest import shot

pytestmark = pytest.mark.browser

ROWS = {"dataframe_split": {"columns": ["a", "b"], "data": [[2.0, 2.0], [-2.0, -2.0]]}}


def _frame(n: int, seed: int, shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"a": rng.normal(size=n) + shift, "b": rng.normal(size=n)})


def _register_and_score(url: str) -> None:
    from sklearn.linear_model import LogisticRegression

    mlflow.set_tracking_uri(url)
    x = _frame(200, 0)
    with mlflow.start_run():
        info = mlflow.sklearn.log_model(LogisticRegression().fit(x, (x["a"] + x["b"] > 0).astype(int)),
                                        name="model", input_example=x.head(2))
    version = mlflow.register_model(info.model_uri, "churn").version
    MlflowClient(url).set_registered_model_alias("churn", "champion", version)
    with httpx.Client(base_url=url, timeout=30) as http:
        for _ in range(3):
            assert http.post("/serving/churn/champion/invocations", json=ROWS).status_code == 200
        assert http.post("/serving/churn/champion/invocations", json={"no_such_format": 1}).status_code == 400
        _wait_for_samples(url, 1)
        for _ in range(2):  # traffic in a second sampling interval too, so every chart has a line
            assert http.post("/serving/churn/champion/invocations", json=ROWS).status_code == 200
        _wait_for_samples(url, 2)


def _wait_for_samples(url: str, count: int) -> None:
    """Bounded wait for the server's sampler (it reads the counters every SAMPLE_SECONDS)."""
    detail = url + "/api/opsloop/v1/deployments/churn/champion"
    deadline = time.monotonic() + 6 * SAMPLE_SECONDS
    while len(httpx.get(detail).json()["series"]) < count and time.monotonic() < deadline:
        time.sleep(0.5)


def _post_drift_signals(url: str) -> None:
    """Drift of feature ``a`` checked three times by the real monitor code, sent as events."""
    profile = build_profile(_frame(2000, 1))
    now = time.time()
    events = []
    for i, shift in enumerate([0.0, 0.6, 1.2]):
        rows = _frame(400, 10 + i, shift).to_dict(orient="records")
        samples = [PredictionSample("churn", f"r{j}", 0, now, row, 0.0) for j, row in enumerate(rows)]
        report = compute_drift("churn", profile, samples)
        report.time = now - 600 * (2 - i)
        # against a previous report where everything drifted, every feature gets a signal (firing or resolved)
        events += [s.to_dict() for s in drift_signals(report, _all_drifted(report), DriftPolicy())]
    resp = httpx.post(url + "/api/opsloop/v1/events", json={"events": events})
    assert resp.status_code < 300, resp.text


def _all_drifted(report):  # noqa: ANN001, ANN202 - a previous report in which every feature drifted
    from dataclasses import replace

    return replace(report, features=[replace(f, drifted=True) for f in report.features])


def test_deployments_without_traffic_say_how_to_score(page) -> None:  # noqa: ANN001
    from playwright.sync_api import expect

    page.goto("/#/deployments")
    empty = page.locator(".deployments-empty")
    expect(empty).to_contain_text("/serving/")
    expect(empty.locator("pre")).to_contain_text("curl -X POST")
    monitoring = page.locator("#model-monitoring")  # the old `opsloop serve --monitor-store` advice is gone
    expect(monitoring).to_contain_text("No model is monitored yet")
    expect(monitoring.locator("pre")).to_contain_text("models reference my-model --data ")
    expect(monitoring).not_to_contain_text("--monitor-store")
    assert not page.js_errors


def test_deployment_traffic_latency_errors_and_drift_distributions(page, ui_server) -> None:  # noqa: ANN001
    from playwright.sync_api import expect

    _register_and_score(ui_server.url)
    _post_drift_signals(ui_server.url)
    page.goto("/#/deployments")
    row = page.locator("#deployments-table tr[data-deployment='churn/champion']")
    expect(row).to_contain_text("serving")
    expect(row.locator("td.num").first).to_have_text("6")
    expect(row.locator("td.num").nth(2)).to_have_text("1")  # errors
    expect(row.locator("td.num").nth(3)).to_have_text("16.7%")  # 1 of 6 (it read 0.16667)
    # 6 requests are fewer than a health check's min_requests: no verdict yet, and the cell says why
    expect(row.locator("td.health-cell")).to_contain_text("too few requests in")
    # number columns are right-aligned, their headers too (a left-aligned header sat over the next column)
    aligns = page.locator("#deployments-table thead th").evaluate_all(
        "(ths) => ths.map((th) => getComputedStyle(th).textAlign)")
    assert aligns[2:9] == ["right"] * 7, aligns
    for chart in ("traffic", "latency", "errors"):
        expect(page.locator(f"#deployment-detail .chart-{chart} svg.chart")).to_be_visible()
    expect(page.locator("#deployment-detail .chart-latency .legend")).to_contain_text("p99 ms")
    expect(page.locator("#deployment-detail")).to_contain_text("bad_request 1")
    card = page.locator(".drift-feature[data-feature='a']")
    expect(card).to_contain_text("drifted")
    expect(card.locator("svg polyline")).to_have_count(1)
    expect(card.locator(".drift-distribution rect.bar-ref")).to_have_count(10)
    expect(card.locator(".drift-distribution rect.bar-live")).to_have_count(10)
    expect(card.locator(".drift-distribution")).to_contain_text("reference 2000 rows, live 400 rows")
    page.locator("#deployments-table").scroll_into_view_if_needed()
    shot(page, "deployments-traffic-drift")
    assert not page.js_errors
