"""Models page after registering a model with the mlflow client; empty states of the other pages."""

from __future__ import annotations

import httpx
import pytest

from tests.ui._seed import make_runs
from tests.ui.conftest import shot

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def model(ui_server) -> str:  # noqa: ANN001
    from mlflow import MlflowClient

    if httpx.get(f"{ui_server.url}/api/2.0/mlflow/registered-models/search").status_code == 404:
        pytest.skip("this server has no model registry API yet")
    ids = make_runs(ui_server.url, experiment="ui-models")
    client = MlflowClient(ui_server.url)
    client.create_registered_model("churn-model", description="Predicts churn from usage")
    for name in ("baseline", "deeper"):
        run = client.get_run(ids[name])
        client.create_model_version("churn-model", f"{run.info.artifact_uri}/model", run_id=ids[name])
    client.set_registered_model_alias("churn-model", "champion", "1")
    validation = {"passed": True, "champion_version": "1",
                  "report": {"accuracy": 0.93, "champion_accuracy": 0.91, "checks": [{"name": "no regression", "passed": True}]}}
    resp = httpx.post(f"{ui_server.url}/api/opsloop/v1/models/churn-model/versions/2/validations", json=validation)
    assert resp.status_code == 200, resp.text
    return "churn-model"


def test_models_page_lists_registered_model_and_promotes_with_reason(page, model) -> None:  # noqa: ANN001
    from playwright.sync_api import expect

    page.goto("/#/models")
    link = page.locator("#models-table .model-link", has_text=model)
    expect(link).to_be_visible()
    expect(page.locator("#models-table")).to_contain_text("@champion → v1")
    shot(page, "models")
    link.click()
    expect(page.locator("#versions-table tbody tr")).to_have_count(2)
    expect(page.locator(".lineage")).to_contain_text("train-set")  # lineage to data
    page.locator("#versions-table").get_by_role("button", name="Version 2").click()
    expect(page.locator(".validation")).to_contain_text("passed")
    expect(page.locator(".validation")).to_contain_text("no regression")
    page.select_option("#promote-version", "2")
    page.fill("#promote-reason", "better holdout accuracy")
    page.get_by_role("button", name="Promote", exact=True).click()
    expect(page.locator(".notice")).to_contain_text("@champion now points at v2")
    expect(page.get_by_text("better holdout accuracy")).to_be_visible()
    expect(page.locator("h1")).to_contain_text("@champion → v2")
    expect(page.locator("#versions-table tr[data-version='2']")).to_contain_text("@champion")
    shot(page, "model")
    assert not page.js_errors


# What `opsloop models validate` records: nested metrics, fairness and a table of rules.
_VALIDATE_REPORT = {
    "model": "churn-model", "candidate": "2", "champion": "1 (@champion)", "task": "classification", "rows": 150,
    "time": 1796567137.6,
    "metrics": {"candidate": {"accuracy": 0.9733, "precision": 0.9738, "recall": 0.9733, "f1": 0.9733, "auc": 0.9983},
                "champion": {"accuracy": 0.96, "precision": 0.9605, "recall": 0.96, "f1": 0.96, "auc": 0.9938}},
    "fairness": {"candidate": [], "champion": []},
    "rules": [{"rule": "accuracy >= champion - 0.01", "status": "passed", "candidate": 0.9733, "champion": 0.96,
               "bound": 0.95, "note": None},
              {"rule": "auc >= 0.5", "status": "passed", "candidate": 0.9983, "champion": 0.9938, "bound": 0.5,
               "note": None}],
    "passed": True,
}


def test_a_validation_report_reads_as_a_table_inside_its_card(page, model, ui_server) -> None:  # noqa: ANN001
    # The report's keys used to be squeezed to one letter a line ("m/o/d/el") and its tables ran out of
    # the card and the window.
    from playwright.sync_api import expect

    resp = httpx.post(f"{ui_server.url}/api/opsloop/v1/models/{model}/versions/1/validations",
                      json={"passed": True, "report": _VALIDATE_REPORT})
    assert resp.status_code == 200, resp.text
    page.goto(f"/#/models/{model}?v=1")
    report = page.locator(".validation").first
    expect(report).to_contain_text("accuracy >= champion - 0.01")
    keys = report.locator("table.kv > tbody > tr > th")
    expect(keys.first).to_have_text("model")
    lines = keys.evaluate_all("(ths) => ths.map((th) => { const r = document.createRange(); r.selectNodeContents(th);"
                              " return [th.textContent, r.getClientRects().length]; })")
    assert lines and [k for k, n in lines if n != 1] == [], lines
    card = page.locator("section.card", has=report)
    assert card.evaluate("(c) => c.scrollWidth <= c.clientWidth")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    shot(page, "model-validation-report")
    assert not page.js_errors


@pytest.mark.parametrize(("route", "name"), [("/#/deployments", "deployments"), ("/#/logs", "logs"),
                                             ("/#/metrics", "metrics")])
def test_pages_without_data_explain_what_to_do(page, route: str, name: str) -> None:  # noqa: ANN001
    from playwright.sync_api import expect

    page.goto(route)
    state = page.locator(".empty-state")
    expect(state).to_be_visible()
    assert len(state.inner_text()) > 80
    assert "[object" not in state.inner_text()  # the metrics page printed "[object HTMLPreElement]"
    shot(page, name)
    assert not page.js_errors


def test_deployments_page_charts_drift_per_feature_over_time(page, ui_server) -> None:  # noqa: ANN001
    import time

    from playwright.sync_api import expect

    now = time.time()
    events = [{"time": now - 3600 * (5 - i), "kind": "model_drift", "source": "monitor:drift", "service": "fraud-model",
               "labels": {"model": "fraud-model", "feature": feature}, "severity": "warning",
               "status": "firing" if psi > 0.2 else "resolved", "text": f"{feature} psi {psi}",
               "values": {"psi": psi, "ks_pvalue": 0.5}}
              for i in range(5) for feature, psi in [("amount", 0.05 * i + 0.01), ("country", 0.02)]]
    resp = httpx.post(f"{ui_server.url}/api/opsloop/v1/events", json={"events": events})
    if resp.status_code == 404:
        pytest.skip("this server has no events API yet")
    assert resp.status_code < 300, resp.text
    page.goto("/#/deployments")
    card = page.locator(".drift-feature[data-feature='amount']")
    expect(card.locator("svg polyline")).to_have_count(1)
    expect(card).to_contain_text("drifted")
    expect(page.locator(".drift-feature[data-feature='country']")).to_contain_text("ok")
    assert "fraud-model" in page.locator("h2", has_text="Drift of").inner_text()
    shot(page, "deployments-drift")
    assert not page.js_errors


def test_log_page_lists_templates_named_by_log_anomalies(page, ui_server) -> None:  # noqa: ANN001
    import time

    from playwright.sync_api import expect

    now = time.time()
    events = [{"time": now - 600 * (3 - i), "kind": "log_anomaly", "source": "logs", "service": "search-api",
               "labels": {"service": "search-api", "direction": "up"}, "severity": "warning", "text": "template burst",
               "status": status, "values": {"observed": count, "expected_low": 0, "expected_high": 20},
               "evidence": {"template_id": 7, "template": "timeout calling <*> after <NUM> ms"}}
              for i, (count, status) in enumerate([(40, "firing"), (12, "resolved"), (65, "firing")])]
    resp = httpx.post(f"{ui_server.url}/api/opsloop/v1/events", json={"events": events})
    if resp.status_code == 404:
        pytest.skip("this server has no events API yet")
    assert resp.status_code < 300, resp.text
    page.goto("/#/logs?service=search-api")
    card = page.locator("#log-anomalies")  # no logs on this server, but the anomalies still name their template
    expect(card).to_contain_text("timeout calling <*> after <NUM> ms")
    expect(card.locator("mark.param")).to_have_count(2)
    expect(card.locator("svg.spark rect").first).to_be_attached()  # counts over time (one bar per stored signal)
    shot(page, "logs-anomalies")
    assert not page.js_errors


def test_the_header_names_the_time_zone_the_pages_times_are_in(browser, ui_server) -> None:  # noqa: ANN001
    # Every time on the pages is the browser's local time, and nothing said which zone that is.
    from playwright.sync_api import expect

    for zone, shown in (("America/New_York", "America/New_York (UTC-05:00)"), ("Australia/Adelaide", "Australia/Adelaide (UTC+10:30)"),
                        ("UTC", "UTC+00:00")):
        context = browser.new_context(base_url=ui_server.url, timezone_id=zone)
        try:
            page = context.new_page()
            page.goto("/#/runs")
            expect(page.locator("#time-zone")).to_have_text(f"Times: {shown}")
        finally:
            context.close()
