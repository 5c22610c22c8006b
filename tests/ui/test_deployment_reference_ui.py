"""Deployments page, in a browser: a model's monitoring panel says where its drift reference comes from
(the data, linked to the run that logged it; the version it profiles; "followed @alias from version N"
after a promotion), and warns when the version its alias serves now has no known training data, so
drift is still measured against an older version's. The situation is made through the real APIs: a
reference set from a run's artifact with ``ref: champion``, then ``@champion`` moved to a version whose
run logged its data at the same path (followed), then to one that logged none (behind)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import mlflow
import pytest
from mlflow import MlflowClient

from tests._models import register_sklearn_champion
from tests.conftest import ServerProcess, wait_until
from tests.server.test_monitoring_reference_follows_alias import MODEL, _data, _version
from tests.ui.conftest import shot

pytestmark = pytest.mark.browser

MON = "/api/opsloop/v1/monitoring"


@pytest.fixture(scope="module")
def ui_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """Checked every second, so a moved alias is followed (or found behind) at once."""
    env = {"OPSLOOP_MONITORING__DRIFT_INTERVAL_S": "1"}
    server = ServerProcess(tmp_path_factory.mktemp("ui-reference") / "data", env=env).start()
    try:
        yield server
    finally:
        server.stop()


def _reference(http: httpx.Client) -> dict:
    r = http.get(f"{MON}/models/{MODEL}/reference")
    assert r.status_code == 200, r.text
    return r.json()


def _followed(url: str, tmp: Path) -> tuple[str, str]:
    """A reference set from version 1's run data with ``ref: champion``, then ``@champion`` moved to
    version 2, whose run logged its data at the same path; ``(version 2, its run)`` once followed."""
    register_sklearn_champion(url, MODEL)
    with httpx.Client(base_url=url, timeout=60) as http:
        with mlflow.start_run() as first:
            _data(0, 400).to_parquet(tmp / "train.parquet")
            mlflow.log_artifact(str(tmp / "train.parquet"), "data")
        body = {"path": f"runs:/{first.info.run_id}/data/train.parquet", "ref": "champion"}
        assert http.post(f"{MON}/models/{MODEL}/reference", json=body).status_code == 200
        v2, run2 = _version(tmp, 2, 500, "data/train.parquet")
        MlflowClient(url).set_registered_model_alias(MODEL, "champion", v2)
        wait_until(lambda: _reference(http)["origin"]["version"] == v2, timeout=30)
    return v2, run2


def _behind(url: str, tmp: Path) -> str:
    """``@champion`` moved to a new version whose run logged no training data; that version, once the
    reference says it is behind."""
    v3, _ = _version(tmp, 3, 300, None)
    MlflowClient(url).set_registered_model_alias(MODEL, "champion", v3)
    with httpx.Client(base_url=url, timeout=60) as http:
        wait_until(lambda: _reference(http)["behind"], timeout=30)
    return v3


def test_the_panel_names_the_reference_origin_and_warns_when_the_served_version_has_no_training_data(
        page, ui_server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    from playwright.sync_api import expect

    monkeypatch.setenv("MLFLOW_TRACKING_URI", ui_server.url)
    v2, run2 = _followed(ui_server.url, tmp_path)
    page.goto(f"/#/deployments?model={MODEL}")
    status = page.locator("#monitoring-status")
    expect(status.locator("#reference-origin")).to_contain_text(f"version {v2}: followed @champion from version 1 on ")
    run_link = status.locator("a.reference-run")
    expect(run_link).to_have_text(f"runs:/{run2}/data/train.parquet")
    expect(run_link).to_have_attribute("href", f"#/runs/{run2}")
    expect(status.locator("a.reference-version")).to_have_attribute("href", f"#/models/{MODEL}?v={v2}")
    expect(status.locator(".reference-behind")).to_have_count(0)

    v3 = _behind(ui_server.url, tmp_path)
    page.reload()
    banner = status.locator(".reference-behind")
    expect(banner).to_have_attribute("role", "alert")
    expect(banner).to_contain_text(
        f"Drift is measured against version {v2}'s training data; version {v3} (served at @champion) has no known "
        "training data: tag it opsloop.training_data")
    expect(banner).to_contain_text(f"version {v3} has no known training data")  # the server's reason, as given
    expect(banner.locator("pre")).to_contain_text(f'"name":"{MODEL}","version":"{v3}","key":"opsloop.training_data"')
    expect(status.locator("#reference-origin")).to_contain_text(f"version {v2}: followed @champion")  # still v2's data
    shot(page, "deployments-reference-behind")
    run_link.click()
    expect(page).to_have_url(f"{ui_server.url}/#/runs/{run2}")
    assert not page.js_errors


def test_origin_text_says_which_version_a_reference_profiles_and_whether_it_follows_an_alias(page) -> None:  # noqa: ANN001
    page.goto("/#/nowhere")
    expr = ("[null, {data: 'inline', version: '4', alias: null, set: 'api'}, {data: 'inline', version: '1', alias: 'champion', set: 'api'},"
            " {version: '3', alias: 'prod', set: 'followed', previous: {version: '2'}, time: 1}].map(m.originText)")
    texts = page.evaluate(f"import('/static/pages/deployments.js').then((m) => {expr})")
    assert texts[:3] == ["profiled without a model version (no served model named it)",
                         "version 4 (set with a version number, so it stays with that version)",
                         "version 1 (served at @champion; the reference follows the alias to each promoted version's training data)"]
    assert texts[3].startswith("version 3: followed @prod from version 2 on ")
