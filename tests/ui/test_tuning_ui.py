"""A hyperparameter search's parent run lists its trials, best first, in Chromium."""

from __future__ import annotations

import pytest

from opsloop.mlops.tuning import Trial, tune
from tests.ui.conftest import shot

pytestmark = pytest.mark.browser


def quadratic(trial: Trial) -> float:
    if trial.params["kind"] == "broken" and trial.params["x"] > 1:
        raise RuntimeError("diverged")
    return (trial.params["x"] - 1) ** 2


@pytest.fixture(scope="module")
def search(ui_server):  # noqa: ANN001, ANN201
    return tune(quadratic, {"x": {"low": -3.0, "high": 3.0}, "kind": ["fine", "broken"], "epochs": {"value": 5}},
                metric="loss", n_trials=12, seed=2, sampler="random", url=ui_server.url, experiment="search-ui",
                run_name="the-search")


def test_parent_run_lists_trials_best_first_and_compares_the_best(page, search) -> None:  # noqa: ANN001
    from playwright.sync_api import expect

    page.goto(f"/#/runs/{search.parent_run_id}")
    rows = page.locator("#child-runs tbody tr")
    expect(rows).to_have_count(12)
    summary = page.locator("#child-runs-summary").inner_text()
    assert "12 child runs" in summary and "lowest loss first" in summary
    headers = page.locator("#child-runs thead").inner_text()
    assert "loss" in headers and "x" in headers and "kind" in headers and "epochs" not in headers  # only what varies
    assert rows.first.locator(".child-link").inner_text() == f"the-search-trial-{search.best.number}"
    failed = [t for t in search.trials if t.state == "failed"]
    assert failed and page.locator("#child-runs tbody tr", has_text="failed").count() == len(failed)
    shot(page, "tuning-parent")
    page.click("#compare-children")
    page.wait_for_url("**/compare?runs=*")
    compared = page.url.split("runs=")[1].split("&")[0].replace("%2C", ",").split(",")
    completed = sorted(search.completed, key=lambda t: t.value)
    assert compared[: len(completed)] == [t.run_id for t in completed][:10]
    assert not page.js_errors


def test_a_run_without_children_shows_no_child_section(page, search) -> None:  # noqa: ANN001
    page.goto(f"/#/runs/{search.best_run_id}")
    page.wait_for_selector("#run-status")
    page.wait_for_timeout(500)
    assert page.locator("#child-runs").count() == 0
    assert "Parent run" in page.locator("body").inner_text()
    assert not page.js_errors
