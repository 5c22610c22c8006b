"""The registered models list in Chromium: search as MLflow's UI does, and more models than one page."""

from __future__ import annotations

import httpx
import pytest

pytestmark = pytest.mark.browser

CREATE = "/api/2.0/mlflow/registered-models/create"


@pytest.fixture(scope="module")
def models(ui_server) -> int:  # noqa: ANN001
    names = ["Churn-Model", *(f"bulk-{i:03d}" for i in range(205))]
    with httpx.Client(base_url=ui_server.url) as client:
        for name in names:
            assert client.post(CREATE, json={"name": name}).status_code == 200
    return len(names)


def test_model_search_ignores_case_as_mlflows_ui_does(page, models: int) -> None:  # noqa: ANN001
    # The page searched with LIKE, which is case-sensitive: "churn" did not find "Churn-Model".
    from playwright.sync_api import expect

    page.goto("/#/models")
    page.fill("#model-search", "churn")
    page.press("#model-search", "Enter")
    expect(page.locator("#models-table .model-link")).to_have_text(["Churn-Model"])
    page.goto("/#/models?q=CHURN")
    expect(page.locator("#models-table .model-link")).to_have_text(["Churn-Model"])
    assert not page.js_errors


def test_more_models_than_a_page_are_reached_with_show_more(page, models: int) -> None:  # noqa: ANN001
    # The list read one page of 200 and had no way to the rest.
    from playwright.sync_api import expect

    page.goto("/#/models")
    links = page.locator("#models-table .model-link")
    expect(links).to_have_count(200)
    page.locator("#more-models").click()
    expect(links).to_have_count(models)
    expect(page.locator("#models-table")).to_contain_text("bulk-204")
    expect(page.locator("#more-models")).to_have_count(0)
    assert not page.js_errors


def test_a_models_tags_and_a_versions_description_are_shown(page, ui_server) -> None:  # noqa: ANN001
    # Neither a registered model's tags nor a version's description was anywhere on the model page.
    from mlflow import MlflowClient
    from playwright.sync_api import expect

    client = MlflowClient(ui_server.url, registry_uri=ui_server.url)
    client.create_registered_model("tagged", tags={"owner": "search-team", "pii": "<none>"}, description="ranks results")
    run = client.create_run(client.create_experiment("tagged-runs"))
    client.create_model_version("tagged", f"runs:/{run.info.run_id}/model", run_id=run.info.run_id,
                                description="retrained on <b>March</b> data")
    page.goto("/#/models/tagged?v=1")
    expect(page.locator("#model-tags")).to_contain_text("owner=search-team")
    expect(page.locator("#model-tags")).to_contain_text("pii=<none>")
    expect(page.locator(".version-description")).to_have_text("retrained on <b>March</b> data")
    assert not page.js_errors


def test_a_link_to_a_version_that_does_not_exist_says_so(page, models: int) -> None:  # noqa: ANN001
    # The page showed the versions table and nothing below it, with no word about the version asked for.
    from playwright.sync_api import expect

    page.goto("/#/models/Churn-Model?v=42")
    expect(page.locator(".empty-state h2")).to_have_text("No version 42")
    assert not page.js_errors


def test_an_alias_is_removed_from_the_model_page_with_a_reason_on_record(page, ui_server) -> None:  # noqa: ANN001
    # The page could move an alias but not take one off: that took MLflow's API by hand, unaudited.
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException
    from playwright.sync_api import expect

    client = MlflowClient(ui_server.url, registry_uri=ui_server.url)
    client.create_registered_model("aliased")
    run = client.create_run(client.create_experiment("aliased-runs"))
    for _ in range(2):
        client.create_model_version("aliased", f"runs:/{run.info.run_id}/model", run_id=run.info.run_id)
    client.set_registered_model_alias("aliased", "champion", "2")
    client.set_registered_model_alias("aliased", "canary", "1")
    page.goto("/#/models/aliased")
    page.select_option("#remove-alias", "canary")
    page.click("#remove-alias-btn")  # no reason: the form is not sent
    expect(page.locator("#remove-reason:invalid")).to_have_count(1)
    assert client.get_model_version_by_alias("aliased", "canary").version == "1"
    page.fill("#remove-reason", "canary finished")
    page.click("#remove-alias-btn")
    expect(page.locator(".notice")).to_have_text("@canary removed.")
    expect(page.locator("h1")).not_to_contain_text("@canary")
    expect(page.locator(".timeline")).to_contain_text("@canary removed (was v1)")
    expect(page.locator(".timeline")).to_contain_text("canary finished")
    assert client.get_model_version_by_alias("aliased", "champion").version == "2"
    with pytest.raises(MlflowException):
        client.get_model_version_by_alias("aliased", "canary")
    assert not page.js_errors
