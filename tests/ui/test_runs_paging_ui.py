"""Server-side paging of the runs table (its own server, so the other tests' counts stay exact)."""

from __future__ import annotations

import pytest

from tests.ui.conftest import shot

pytestmark = pytest.mark.browser


def test_empty_experiment_tells_how_to_log_a_first_run(page) -> None:  # noqa: ANN001
    from playwright.sync_api import expect

    page.goto("/#/runs?exp=0")
    state = page.locator(".empty-state")
    expect(state.locator("h2")).to_have_text("No runs yet")
    expect(state).to_contain_text("mlflow.set_tracking_uri")
    shot(page, "runs-empty")
    assert not page.js_errors


def _experiment_with_runs(url: str, name: str, runs: int, prefix: str) -> str:
    """An experiment of ``runs`` runs named ``prefix-000``…, started in that order; returns its id."""
    from mlflow import MlflowClient

    client = MlflowClient(url)
    exp = client.create_experiment(name)
    for i in range(runs):
        client.create_run(exp, run_name=f"{prefix}-{i:03d}", start_time=1_700_000_000_000 + i)
    return exp


def test_server_side_paging_moves_through_pages_of_100(page, ui_server) -> None:  # noqa: ANN001
    from playwright.sync_api import expect

    exp = _experiment_with_runs(ui_server.url, "ui-paging", 123, "paged")
    page.goto(f"/#/runs?exp={exp}")
    rows = page.locator("#runs-table tbody tr")
    expect(rows).to_have_count(100)
    expect(page.locator("#runs-table .run-link").first).to_have_text("paged-122")
    page.get_by_role("button", name="Next →").click()
    expect(rows).to_have_count(23)
    expect(page.locator("#runs-table .run-link").last).to_have_text("paged-000")
    assert "page=" in page.url
    expect(page.get_by_role("button", name="Next →")).to_be_disabled()
    page.get_by_role("button", name="← Previous").click()
    expect(rows).to_have_count(100)
    assert not page.js_errors


def test_a_reloaded_or_shared_later_page_keeps_its_number_and_previous(page, ui_server) -> None:  # noqa: ANN001
    # The page tokens before the current one lived only in memory: page 3 reloaded said "Page 1, runs 1-100"
    # and Previous jumped to the first page.
    from playwright.sync_api import expect

    exp = _experiment_with_runs(ui_server.url, "ui-paging-reload", 205, "deep")
    page.goto(f"/#/runs?exp={exp}")
    rows = page.locator("#runs-table tbody tr")
    expect(rows).to_have_count(100)
    page.get_by_role("button", name="Next →").click()
    expect(page.locator("#runs-table .run-link").first).to_have_text("deep-104")
    page.get_by_role("button", name="Next →").click()
    expect(rows).to_have_count(5)
    page.reload()
    expect(rows).to_have_count(5)
    expect(page.locator(".pager")).to_contain_text("Page 3")
    expect(page.locator(".status-line")).to_contain_text("Showing runs 201–205")
    page.get_by_role("button", name="← Previous").click()
    expect(page.locator("#runs-table .run-link").first).to_have_text("deep-104")
    expect(page.locator(".pager")).to_contain_text("Page 2")
    page.get_by_role("button", name="← Previous").click()
    expect(page.locator("#runs-table .run-link").first).to_have_text("deep-204")
    expect(page.get_by_role("button", name="← Previous")).to_be_disabled()
    assert not page.js_errors
