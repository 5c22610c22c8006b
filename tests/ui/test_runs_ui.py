"""Runs, run detail and compare pages in Chromium, on runs made by the real ``mlflow`` client."""

from __future__ import annotations

import re

import pytest

from tests.ui._seed import make_runs
from tests.ui.conftest import shot

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def runs(ui_server) -> dict[str, str]:  # noqa: ANN001
    return make_runs(ui_server.url)


def _open_runs(page, query: str = "") -> None:  # noqa: ANN001
    page.goto(f"/#/runs{query}")
    page.wait_for_selector("#runs-table tbody tr")


def _names(page) -> list[str]:  # noqa: ANN001
    return page.locator("#runs-table .run-link").all_inner_texts()


def test_runs_logged_with_mlflow_appear_in_the_table(page, runs) -> None:  # noqa: ANN001
    from playwright.sync_api import expect

    _open_runs(page)
    expect(page.locator("#runs-table tbody tr")).to_have_count(3)
    assert sorted(_names(page)) == ["baseline", "deeper", "wider"]
    headers = page.locator("#runs-table thead").inner_text()
    assert "accuracy" in headers and "loss" in headers and "lr" in headers
    shot(page, "runs")
    assert not page.js_errors


def test_filter_uses_mlflow_grammar_and_lives_in_the_url(page, runs) -> None:  # noqa: ANN001
    from playwright.sync_api import expect

    _open_runs(page)
    page.fill("#run-filter", "params.model = 'mlp' and metrics.loss < 1")
    page.press("#run-filter", "Enter")
    expect(page.locator("#runs-table tbody tr")).to_have_count(2)
    assert sorted(_names(page)) == ["deeper", "wider"]
    assert "filter=" in page.url
    shot(page, "runs-filtered")
    # The link reproduces the view in a fresh page.
    shared = page.url
    page.goto("about:blank")
    page.goto(shared)
    expect(page.locator("#runs-table tbody tr")).to_have_count(2)
    assert page.input_value("#run-filter") == "params.model = 'mlp' and metrics.loss < 1"
    # A bad filter shows the server's 400 message.
    page.fill("#run-filter", "metrics.loss >>> 1")
    page.press("#run-filter", "Enter")
    error = page.locator(".error-box")
    expect(error).to_be_visible()
    assert "INVALID_PARAMETER_VALUE" in error.inner_text()
    shot(page, "runs-bad-filter")
    assert not page.js_errors


def test_sorting_by_a_metric_column_and_choosing_columns(page, runs) -> None:  # noqa: ANN001
    from playwright.sync_api import expect

    _open_runs(page)
    loss_sort = page.locator("#runs-table thead button.sort", has_text="loss")
    loss_sort.click()  # highest loss first
    expect(page.locator("#runs-table .run-link").first).to_have_text("baseline")
    assert "order=metrics" in page.url
    page.locator("#runs-table thead button.sort", has_text="loss").click()  # then lowest first
    expect(page.locator("#runs-table .run-link").first).to_have_text("deeper")
    page.get_by_role("button", name="Columns").click()
    page.locator("#columns-panel label", has_text="epochs").locator("input").uncheck()
    expect(page.locator("#runs-table thead")).not_to_contain_text("epochs")
    page.locator("#columns-panel label", has_text="team").locator("input").check()
    expect(page.locator("#runs-table thead")).to_contain_text("team")
    assert "cols=" in page.url
    shot(page, "runs-columns")
    assert not page.js_errors


def test_run_detail_shows_params_metrics_chart_inputs_and_artifacts(page, runs) -> None:  # noqa: ANN001
    from playwright.sync_api import expect

    _open_runs(page)
    page.locator("#runs-table .run-link", has_text="baseline").click()
    expect(page.locator("h1")).to_contain_text("baseline")
    assert runs["baseline"] in page.url
    expect(page.locator("table.kv", has_text="lr")).to_contain_text("0.1")
    expect(page.locator("#metrics-table")).to_contain_text("loss")
    expect(page.locator("[data-metric='loss'] svg polyline")).to_have_count(1)
    expect(page.locator("table.kv tr", has_text="Code version")).to_contain_text("3f2a9c1dbase")
    expect(page.get_by_text("train-set")).to_be_visible()  # dataset input
    page.get_by_role("button", name="notes.txt").click()
    expect(page.locator("pre.preview")).to_contain_text("learning rate 0.1")
    page.get_by_role("button", name="predictions.csv").click()
    expect(page.locator("table.csv-preview")).to_contain_text("cat, big")
    page.get_by_role("button", name="model/").click()
    expect(page.get_by_role("button", name="model.txt")).to_be_visible()
    page.get_by_role("button", name="curve.png").click()
    img = page.locator("img.preview")
    expect(img).to_be_visible()
    page.wait_for_function("document.querySelector('img.preview').naturalWidth > 0")
    # Chart options: log scale and smoothing redraw in place and are kept in the URL.
    page.get_by_label("Log scale").check()
    page.get_by_label("X axis").select_option("relative")
    expect(page.locator("[data-metric='loss'] svg polyline")).to_have_count(1)
    assert "log=1" in page.url and "x=relative" in page.url
    shot(page, "run")
    assert not page.js_errors


def test_compare_two_runs_side_by_side(page, runs) -> None:  # noqa: ANN001
    from playwright.sync_api import expect

    _open_runs(page)
    for name in ("baseline", "wider"):
        page.locator("#runs-table tr", has_text=name).locator("input[type=checkbox]").check()
    compare = page.locator("#compare-btn")
    expect(compare).to_be_enabled()
    compare.click()
    expect(page.locator("h1")).to_have_text("Compare 2 runs")
    diff_row = page.locator("#params-diff tr.diff", has_text="lr")
    expect(diff_row).to_contain_text("0.1")
    expect(diff_row).to_contain_text("0.2")
    expect(page.locator("#metrics-compare")).to_contain_text("accuracy")
    expect(page.locator("#parallel-coords svg polyline")).to_have_count(2)
    expect(page.locator("[data-metric='loss'] svg polyline")).to_have_count(2)
    page.get_by_label("Show only parameters that differ").check()
    expect(page.locator("#params-diff")).not_to_contain_text("epochs")
    shot(page, "compare")
    assert not page.js_errors


def test_keyboard_reaches_the_table_and_enter_opens_a_run(page, runs) -> None:  # noqa: ANN001
    from playwright.sync_api import expect

    _open_runs(page)
    for _ in range(40):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.classList.contains('run-link')"):
            break
    else:
        pytest.fail("Tab never reached a run link in the table")
    name = page.evaluate("document.activeElement.textContent")
    page.keyboard.press("Enter")
    expect(page.locator("h1")).to_contain_text(name)
    assert re.search(r"#/runs/[0-9a-f]{32}", page.url)
    assert not page.js_errors


def test_narrow_window_has_no_page_wide_horizontal_scroll(page, runs) -> None:  # noqa: ANN001
    from playwright.sync_api import expect

    page.set_viewport_size({"width": 400, "height": 800})
    _open_runs(page)
    assert page.evaluate("document.documentElement.scrollWidth") <= 401
    shot(page, "runs-narrow")
    page.locator("#runs-table .run-link", has_text="deeper").click()
    expect(page.locator("[data-metric='loss'] svg")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 401
    shot(page, "run-narrow")
    assert not page.js_errors


def test_unknown_run_and_unknown_page_say_what_is_wrong(page, runs) -> None:  # noqa: ANN001
    from playwright.sync_api import expect

    page.goto("/#/runs/0123456789abcdef0123456789abcdef")
    expect(page.locator(".empty-state h2")).to_have_text("Run not found")
    page.goto("/#/nowhere")
    expect(page.locator(".empty-state h2")).to_have_text("No such page")
    page.goto("/#/compare?runs=onlyone")
    expect(page.locator(".empty-state h2")).to_have_text("Pick 2 to 10 runs")


def test_links_in_mlflow_ui_format_open_the_same_views(page, runs) -> None:  # noqa: ANN001
    from playwright.sync_api import expect

    page.goto(f"/#/experiments/1/runs/{runs['wider']}")  # what `mlflow` prints after a run
    expect(page.locator("h1")).to_contain_text("wider")
    page.goto("/#/experiments/1")
    expect(page.locator("#runs-table tbody tr")).to_have_count(3)
    assert "exp=1" in page.url



def test_a_very_long_experiment_name_wraps_and_leaves_the_metrics_in_view(page, runs, ui_server) -> None:  # noqa: ANN001
    # The experiment column never wrapped: a 300-character name pushed every metric column out of the window.
    from mlflow import MlflowClient

    client = MlflowClient(ui_server.url)
    run = client.create_run(client.create_experiment("e" * 300), run_name="long-experiment-run")
    client.log_metric(run.info.run_id, "accuracy", 0.5)
    client.set_terminated(run.info.run_id)
    _open_runs(page)
    header = page.locator("#runs-table thead th", has_text="accuracy")
    box = header.bounding_box()
    assert box is not None and box["x"] + box["width"] <= page.viewport_size["width"], box
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    shot(page, "runs-long-experiment-name")
    assert not page.js_errors


def test_an_empty_experiment_offers_a_snippet_that_logs_into_it(page, runs, ui_server) -> None:  # noqa: ANN001
    # The snippet had no set_experiment: run as shown, it logged into Default, not the experiment on screen.
    from mlflow import MlflowClient
    from playwright.sync_api import expect

    exp = MlflowClient(ui_server.url).create_experiment("nothing-yet")
    page.goto(f"/#/runs?exp={exp}")
    code = page.locator(".empty-state pre")
    expect(code).to_contain_text("mlflow.set_experiment(")
    assert "nothing-yet" in code.inner_text() or f'experiment_id="{exp}"' in code.inner_text()
    assert not page.js_errors


def test_a_metric_with_only_nan_or_infinity_says_so_instead_of_empty_axes(page, runs, ui_server) -> None:  # noqa: ANN001
    from mlflow import MlflowClient
    from playwright.sync_api import expect

    client = MlflowClient(ui_server.url)
    run = client.create_run(client.get_experiment_by_name("ui-demo").experiment_id, run_name="odd-values")
    for key, value in (("diverged", float("inf")), ("undefined", float("nan")), ("fine", 0.5)):
        client.log_metric(run.info.run_id, key, value)
    page.goto(f"/#/runs/{run.info.run_id}")
    for key in ("diverged", "undefined"):
        card = page.locator(f"section.card[data-metric='{key}']")
        expect(card).to_contain_text("NaN or ±Infinity")
        expect(card.locator("svg")).to_have_count(0)
    expect(page.locator("section.card[data-metric='fine'] svg.chart")).to_be_visible()
    assert not page.js_errors


def test_a_long_parameter_value_is_folded_until_opened(page, runs, ui_server) -> None:  # noqa: ANN001
    # A config logged as one 5,000-character param filled the page with a metre-high Parameters card.
    from mlflow import MlflowClient
    from playwright.sync_api import expect

    client = MlflowClient(ui_server.url)
    run = client.create_run(client.get_experiment_by_name("ui-demo").experiment_id, run_name="long-param")
    value = "x" * 5000
    client.log_param(run.info.run_id, "config", value)
    client.log_param(run.info.run_id, "lr", "0.1")
    page.goto(f"/#/runs/{run.info.run_id}")
    row = page.locator("section.card", has_text="Parameters").locator("tr", has_text="config")
    expect(row).to_contain_text("5000 characters")
    assert row.bounding_box()["height"] < 120
    row.locator("summary").click()
    expect(row.locator("details[open]")).to_contain_text(value)
    expect(page.locator("section.card", has_text="Parameters").locator("tr", has_text="lr")).to_contain_text("0.1")
    assert not page.js_errors


def test_a_long_parameter_value_stays_short_in_the_runs_table_and_in_compare(page, runs, ui_server) -> None:  # noqa: ANN001
    # The run page folded a 5,000-character param, but compare printed it whole (a table metres high) and
    # the runs table in one unwrapped cell (a row tens of thousands of pixels wide).
    from mlflow import MlflowClient
    from playwright.sync_api import expect

    client = MlflowClient(ui_server.url)
    exp = client.create_experiment("long-params")
    ids = []
    for i, value in enumerate(("y" * 5000, "z" * 5000)):
        run = client.create_run(exp, run_name=f"config-{i}")
        client.log_param(run.info.run_id, "config", value)
        client.log_metric(run.info.run_id, "score", i)
        ids.append(run.info.run_id)
    page.goto(f"/#/runs?exp={exp}&cols=params.config,metrics.score")
    cell = page.locator("#runs-table tbody tr", has_text="config-0").locator("td").last.locator("xpath=preceding-sibling::td[1]")
    expect(cell).to_contain_text("yyy…")
    assert page.evaluate("document.querySelector('#runs-table').scrollWidth") < 2000
    assert (cell.locator("[title]").get_attribute("title") or "").startswith("y" * 1000)
    page.goto(f"/#/compare?runs={ids[0]},{ids[1]}")
    row = page.locator("#params-diff tbody tr", has_text="config")
    expect(row).to_contain_text("5000 characters")
    assert row.bounding_box()["height"] < 150
    row.locator("summary").first.click()
    expect(row.locator("details[open]")).to_contain_text("y" * 5000)
    assert not page.js_errors


def test_compare_of_runs_that_do_not_exist_names_them_instead_of_empty_sections(page, runs) -> None:  # noqa: ANN001
    # "Compare 0 runs" followed by empty Parameters, Metrics and chart sections.
    from playwright.sync_api import expect

    page.goto("/#/compare?runs=gone1,gone2")
    expect(page.locator(".error-box")).to_have_count(2)
    expect(page.locator(".error-box").first).to_contain_text("gone1")
    expect(page.locator("h1")).to_have_text("Compare runs")
    expect(page.locator("#params-diff, #parallel-coords")).to_have_count(0)
    assert not page.js_errors


def test_an_empty_deleted_view_or_an_unknown_experiment_says_what_is_empty(page, runs, ui_server) -> None:  # noqa: ANN001
    # Both said "No runs yet: nothing has been logged here" with a snippet, beside experiments full of runs.
    from mlflow import MlflowClient
    from playwright.sync_api import expect

    exp = MlflowClient(ui_server.url).get_experiment_by_name("ui-demo").experiment_id
    page.goto(f"/#/runs?exp={exp}&view=deleted")
    expect(page.locator(".empty-state h2")).to_have_text("No deleted runs")
    page.goto("/#/runs?exp=424242")
    expect(page.locator(".empty-state h2")).to_have_text("No such experiment")
    expect(page.locator(".empty-state")).to_contain_text("424242")
    assert not page.js_errors


def test_a_running_runs_page_follows_new_metrics_and_its_end(page, runs, ui_server) -> None:  # noqa: ANN001
    # The page of a training run was drawn once: new points and the run's end needed a reload.
    from mlflow import MlflowClient
    from playwright.sync_api import expect

    client = MlflowClient(ui_server.url)
    run = client.create_run(client.get_experiment_by_name("ui-demo").experiment_id, run_name="training-live")
    rid = run.info.run_id
    for step in range(3):
        client.log_metric(rid, "val_loss", 1.0 / (step + 1), step=step)
    page.goto(f"/#/runs/{rid}")
    expect(page.locator("#run-status")).to_contain_text("live")
    points = "document.querySelector(\"section.card[data-metric='val_loss'] polyline.line\")?.getAttribute('points').split(' ').length"
    page.wait_for_function(f"() => {points} === 3")
    for step in range(3, 6):
        client.log_metric(rid, "val_loss", 1.0 / (step + 1), step=step)
    client.log_metric(rid, "val_acc", 0.9, step=5)
    page.wait_for_function(f"() => {points} === 6", timeout=15_000)
    expect(page.locator("#metrics-table")).to_contain_text("val_acc")
    expect(page.locator("section.card[data-metric='val_acc']")).to_be_visible()
    client.set_terminated(rid)
    expect(page.locator("h1")).to_contain_text("FINISHED", timeout=15_000)
    expect(page.locator("#run-status")).not_to_contain_text("live")
    assert not page.js_errors


def test_a_runs_description_shows_on_top_of_its_page(page, runs, ui_server) -> None:  # noqa: ANN001
    # MLflow keeps a run's description in the mlflow.note.content tag and shows it on top of the run; here it
    # was only one of the folded system tags.
    from mlflow import MlflowClient
    from playwright.sync_api import expect

    client = MlflowClient(ui_server.url)
    run = client.create_run(client.get_experiment_by_name("ui-demo").experiment_id, run_name="described",
                            tags={"mlflow.note.content": "Baseline with <b>class weights</b>.\nSecond line."})
    client.set_terminated(run.info.run_id)
    page.goto(f"/#/runs/{run.info.run_id}")
    note = page.locator("#run-description")
    expect(note).to_have_text("Baseline with <b>class weights</b>.\nSecond line.")
    assert note.bounding_box()["height"] > 30  # the line break kept
    assert not page.js_errors


def test_words_without_a_comparison_search_run_names_as_in_mlflows_ui(page, runs) -> None:  # noqa: ANN001
    # Typing a run's name gave "Invalid filter 'deep': unexpected end"; MLflow's UI searches run names.
    from playwright.sync_api import expect

    _open_runs(page)
    page.fill("#run-filter", "DEEP")
    page.press("#run-filter", "Enter")
    expect(page.locator("#runs-table .run-link")).to_have_text(["deeper"])
    assert "filter=DEEP" in page.url
    page.fill("#run-filter", "o'brien")
    page.press("#run-filter", "Enter")
    expect(page.locator(".empty-state h2")).to_have_text("No matching runs")
    assert page.evaluate("import('/static/pages/runs.js').then((m) => m.searchFilter(\"params.model = 'mlp'\"))") == "params.model = 'mlp'"
    assert not page.js_errors


def test_runs_of_several_experiments_say_so_in_the_experiment_picker(page, runs, ui_server) -> None:  # noqa: ANN001
    # Compare's "Runs" link names the experiments of its runs; with two, the picker read "All experiments".
    from mlflow import MlflowClient
    from playwright.sync_api import expect

    client = MlflowClient(ui_server.url)
    ids = [client.get_experiment_by_name("ui-demo").experiment_id, client.create_experiment("second-of-two")]
    page.goto(f"/#/runs?exp={ids[0]},{ids[1]}")
    expect(page.locator("#runs-table tbody tr").first).to_be_visible()
    assert page.evaluate("document.querySelector('#exp-select').selectedOptions[0].textContent") == "2 experiments"
    page.select_option("#exp-select", "")
    expect(page).not_to_have_url(re.compile("exp="))
    assert not page.js_errors
