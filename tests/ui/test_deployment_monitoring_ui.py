"""Deployments page, per model, in a browser: the server's own monitoring of the models it scores at
/serving (a reference set through the API, drifted traffic, a drift check, labels) shows the reference,
the sampled rows, the latest drift check with the drifted features first and their figures, live
performance and the signals with the incidents they opened; a model without a reference says how to set
one; a monitoring API that fails is named on the page."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import numpy as np
import pandas as pd
import pytest

from tests._models import register_sklearn_champion
from tests.conftest import ServerProcess, wait_until
from tests.ui.conftest import shot

pytestmark = pytest.mark.browser

MON = "/api/opsloop/v1/monitoring"


@pytest.fixture(scope="module")
def ui_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """Every request sampled, whole; no schedule, so drift and performance are checked when the test asks."""
    env = {"OPSLOOP_MONITORING__SAMPLE_RATE": "1", "OPSLOOP_MONITORING__MAX_ROWS_PER_REQUEST": "1000",
           "OPSLOOP_MONITORING__DRIFT_INTERVAL_S": "0"}
    server = ServerProcess(tmp_path_factory.mktemp("ui-monitoring") / "data", env=env).start()
    try:
        yield server
    finally:
        server.stop()


def _frame(seed: int, rows: int, shift_a: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"a": rng.normal(size=rows) + shift_a, "b": rng.normal(size=rows)})


def _invoke(http: httpx.Client, name: str, frame: pd.DataFrame) -> tuple[str, list[int]]:
    """Score ``frame`` in one request at /serving: its request id and predictions."""
    split = {"columns": list(frame.columns), "data": frame.to_numpy().tolist()}
    r = http.post(f"/serving/{name}/champion/invocations", json={"dataframe_split": split})
    assert r.status_code == 200, r.text
    return r.headers["x-request-id"], r.json()["predictions"]


def _monitored_churn(url: str) -> dict:
    """churn: a reference, 300 rows with feature ``a`` shifted, a drift check, wrong labels and a
    performance check; returns the drift report."""
    register_sklearn_champion(url, "churn")
    with httpx.Client(base_url=url, timeout=60) as http:
        body = {"dataframe_records": _frame(1, 1000).to_dict(orient="records"), "ref": "champion",
                "performance": {"min_accuracy": 0.9}, "drift": {"psi_threshold": 0.25}}
        assert http.post(f"{MON}/models/churn/reference", json=body).status_code == 200
        request_id, preds = _invoke(http, "churn", _frame(3, 300, shift_a=3.0))
        wait_until(lambda: http.get(f"{MON}/models/churn").json()["samples"] >= 300, timeout=30)
        report = http.post(f"{MON}/models/churn/drift").json()["report"]
        assert "a" in report["drifted"] and "b" not in report["drifted"], report["drifted"]
        labels = {"request_id": request_id, "values": [1 - p for p in preds]}  # every label wrong
        assert http.post(f"{MON}/models/churn/labels", json=labels).json()["matched"] == 300
        assert http.post(f"{MON}/models/churn/performance").json()["signals"]
    return report


def _incident_of_feature_a(url: str) -> int:
    def find() -> int | None:
        signals = httpx.get(url + "/api/opsloop/v1/signals", params={"service": "churn", "kind": "model_drift"}).json()
        return next((s["incident_id"] for s in signals["signals"]
                     if s["labels"].get("feature") == "a" and s["incident_id"] is not None), None)

    return wait_until(find, timeout=30)


def test_a_drift_check_shows_the_drifted_features_first_with_their_figures_and_incident(page, ui_server) -> None:  # noqa: ANN001
    from playwright.sync_api import expect

    report = _monitored_churn(ui_server.url)
    incident_id = _incident_of_feature_a(ui_server.url)
    register_sklearn_champion(ui_server.url, "fraud")
    with httpx.Client(base_url=ui_server.url, timeout=60) as http:
        _invoke(http, "fraud", _frame(5, 10))

    page.goto("/#/deployments?model=churn")
    expect(page.locator("#deployments-table tr[data-deployment='churn/champion'] .monitoring-cell")).to_contain_text("drift: a")
    expect(page.locator("#deployments-table tr[data-deployment='fraud/champion'] .monitoring-cell")).to_contain_text("no reference")
    status = page.locator("#monitoring-status")
    expect(status).to_contain_text("1000 rows, set")
    expect(status).to_contain_text("a (numeric), b (numeric), prediction")
    rows = page.locator("#drift-report-table tbody tr")
    expect(rows.first).to_have_attribute("data-feature", "a")
    order = rows.evaluate_all("(trs) => trs.map((tr) => tr.classList.contains('drifted'))")
    assert order == sorted(order, reverse=True), order  # every drifted feature above every other one
    [a] = [f for f in report["features"] if f["feature"] == "a"]
    row_a = page.locator("#drift-report-table tr[data-feature='a']")
    expect(row_a).to_contain_text("drifted")
    for stat in ("psi", "ks_statistic", "current_mean"):
        shown = float(row_a.locator(f"td[data-stat='{stat}']").inner_text())
        assert shown == pytest.approx(a["statistics"][stat], rel=1e-4), stat
    expect(row_a.locator("td[data-stat='chi2']")).to_have_text("—")
    expect(row_a.locator("td[data-stat='missing_share']")).to_have_text("—")  # no value missing
    expect(page.locator("#drift-report-table tr[data-feature='b']")).to_contain_text("ok")
    expect(page.locator("#drift-report")).to_contain_text("300 sampled rows against 1000 reference rows")
    # the rule shown is the one in effect: the threshold set with the reference, the defaults for the rest
    expect(page.locator("#drift-report")).to_contain_text(
        "PSI > 0.25 beyond what samples of this size show by chance, its bins differing at χ² p-value < 0.001, "
        "or KS p-value < 0.001")
    card = page.locator(".drift-feature[data-feature='a']")
    expect(card.locator(".drift-distribution rect.bar-live")).to_have_count(10)
    perf = page.locator("#live-performance")
    expect(perf.locator("[data-metric='accuracy']")).to_contain_text("bound ≥ 0.9")
    expect(perf.locator("[data-metric='accuracy']")).to_contain_text("breached")
    link = page.locator(f"#model-signals-table a.incident-link[href='#/incidents/{incident_id}']").first
    expect(link).to_be_visible()
    shot(page, "deployments-monitoring")
    link.click()
    expect(page).to_have_url(f"{ui_server.url}/#/incidents/{incident_id}")
    # and back: the incident names the model, with a link to its monitoring and one to its versions
    about = page.locator(".model-links")
    expect(about).to_contain_text("About model churn")
    expect(about.locator("a[href='#/models/churn']")).to_have_text("its versions")
    about.locator("a", has_text="its monitoring").click()
    expect(page.locator("#drift-report")).to_contain_text("300 sampled rows against 1000 reference rows")

    page.goto("/#/deployments?model=fraud")
    hint = page.locator("#monitoring-status .reference-hint")
    expect(hint).to_contain_text("No reference is set for fraud")
    expect(hint.locator("pre")).to_contain_text(f"opsloop --url {ui_server.url} models reference fraud --data ")
    expect(hint.locator("pre")).to_contain_text(f"{ui_server.url}{MON}/models/fraud/reference")
    expect(page.locator("#drift-report")).to_have_count(0)
    assert not page.js_errors


def test_a_failing_monitoring_api_is_named_on_the_page(page) -> None:  # noqa: ANN001
    from playwright.sync_api import expect

    unavailable = {"error_code": "TEMPORARILY_UNAVAILABLE", "message": "model monitoring is not running"}
    page.route(f"**{MON}/**", lambda route: route.fulfill(status=503, json=unavailable))
    page.goto("/#/deployments")
    expect(page.locator("#model-monitoring")).to_contain_text("model monitoring is not running")
    assert not page.js_errors


def _call(page, expr: str):  # noqa: ANN001, ANN202 - the page's pure functions, as test_js_units_ui does
    page.goto("/#/nowhere")
    return page.evaluate(f"import('/static/pages/deployments.js').then((m) => {expr})")


def test_drift_order_puts_drifted_features_first_then_the_largest_shift(page) -> None:  # noqa: ANN001
    features = ("[{feature: 'b', statistics: {psi: 0.05}}, {feature: 'c', statistics: {}, note: 'not enough'},"
                " {feature: 'a', drifted: true, statistics: {psi: 0.3}}, {feature: 'k', statistics: {jensen_shannon: 0.08}},"
                " {feature: 'z', drifted: true, statistics: {psi: 1.2}}]")
    assert _call(page, f"m.driftOrder({features}).map((f) => f.feature)") == ["z", "a", "k", "b", "c"]


def test_monitoring_summary_names_the_drifted_features(page) -> None:  # noqa: ANN001
    expr = ("[null, {reference: null}, {reference: {rows: 1}, last_drift_check: null},"
            " {reference: {rows: 1}, last_drift_check: 1, drifted: ['a', '__prediction__']},"
            " {reference: {rows: 1}, last_drift_check: 1, drifted: []}].map(m.monitoringSummary)")
    assert _call(page, expr) == [["not monitored", "muted"], ["no reference", "muted"], ["not checked yet", "muted"],
                                 ["drift: a, prediction", "failed"], ["no drift", "ok"]]
