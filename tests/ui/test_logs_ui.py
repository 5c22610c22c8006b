"""Log templates page: logs pushed over OTLP to a real server, mined, listed per service, opened in detail."""

from __future__ import annotations

import re
import time

import httpx
import pytest

from tests.ui.conftest import shot

pytestmark = pytest.mark.browser

TEMPLATES = "/api/opsloop/v1/logs/templates"


def _otlp(service: str, lines: list[str], severity: str = "INFO", spacing_s: int = 0) -> dict:
    """One OTLP/HTTP JSON export; lines are ``spacing_s`` apart, the last one now."""
    now = time.time_ns()
    return {"resourceLogs": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": service}}]},
        "scopeLogs": [{"logRecords": [
            {"timeUnixNano": str(now - (len(lines) - i) * spacing_s * 10**9), "severityText": severity,
             "body": {"stringValue": line}}
            for i, line in enumerate(lines)]}],
    }]}


def _wait_for_templates(url: str, service: str, templates: int, lines: int) -> list[dict]:
    """A template is listed as soon as it is mined, its counts when the server ticks (every 5 s) and
    persists them: poll, bounded, until the templates carry every line pushed."""
    deadline = time.monotonic() + 60
    found: list[dict] = []
    while time.monotonic() < deadline:
        resp = httpx.get(f"{url}{TEMPLATES}", params={"service": service})
        assert resp.status_code == 200, resp.text
        found = resp.json()["templates"]
        if len(found) == templates and sum(t["count"] for t in found) == lines:
            return found
        time.sleep(0.5)
    pytest.fail(f"within 60 s the server did not list {templates} templates / {lines} lines of {service}: {found}")


@pytest.fixture(scope="module")
def pushed(ui_server) -> dict[str, dict]:  # noqa: ANN001
    if httpx.get(f"{ui_server.url}/api/opsloop/v1/logs/services").status_code == 404:
        pytest.skip("this server has no log templates API")
    batches = [
        _otlp("checkout", [f"user {u} logged in from 10.0.0.{u} in {u * 3} ms" for u in range(40)], spacing_s=60),
        _otlp("checkout", [f"timeout calling payments after {n * 100} ms" for n in range(1, 8)], "ERROR", spacing_s=100),
        _otlp("search-api", [f"cache miss for key item:{k}" for k in range(5)]),
    ]
    for body in batches:
        resp = httpx.post(f"{ui_server.url}/v1/logs", json=body)
        assert resp.status_code == 200, resp.text
    _wait_for_templates(ui_server.url, "search-api", 1, 5)
    return {t["template"]: t for t in _wait_for_templates(ui_server.url, "checkout", 2, 47)}


def test_logs_page_lists_templates_of_a_service_and_opens_one(page, ui_server, pushed) -> None:  # noqa: ANN001
    from playwright.sync_api import expect

    timeout = pushed["timeout calling payments after <*> ms"]
    page.goto("/#/logs")
    picker = page.locator("#log-service")
    expect(picker.locator("option[value='checkout']")).to_contain_text("2 templates, 47 lines")
    picker.select_option("checkout")
    expect(page).to_have_url(re.compile(r"service=checkout"))  # the filter is in the link
    rows = page.locator("#templates-table tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.first).to_contain_text("user <*> logged in from <*> in <*> ms")  # most frequent first
    row = page.locator(f"#templates-table tr[data-id='{timeout['id']}']")
    expect(row).to_contain_text("timeout calling payments after <*> ms")
    expect(row.locator("td.num").first).to_have_text("7")
    expect(row.locator("mark.param")).to_have_text("<*>")  # the parameter is highlighted
    expect(row).to_contain_text("v1")
    shot(page, "logs-templates")

    row.get_by_role("button").click()
    detail = page.locator("#template-detail section.card")
    expect(detail).to_contain_text(f"Template {timeout['id']}")
    expect(detail.locator(".template-chart svg.chart")).to_be_visible()  # counts over time
    expect(detail.locator(".examples")).to_contain_text("timeout calling payments after 100 ms")
    expect(detail.locator("table.params")).to_contain_text("200")
    expect(page).to_have_url(re.compile(rf"[?&]id={timeout['id']}\b"))
    shot(page, "logs-template-detail")

    # Escape closes the detail and gives the focus back to the template's button.
    page.keyboard.press("Escape")
    expect(detail).to_have_count(0)
    expect(row.get_by_role("button")).to_be_focused()
    page.keyboard.press("Enter")  # and the keyboard opens it again
    expect(detail.locator(".template-chart svg.chart")).to_be_visible()
    assert not page.js_errors


def test_logs_search_and_shared_link_reopen_the_same_view(page, ui_server, pushed) -> None:  # noqa: ANN001
    from playwright.sync_api import expect

    login = pushed["user <*> logged in from <*> in <*> ms"]
    page.goto(f"/#/logs?service=checkout&id={login['id']}")  # a shared link: service and open template
    expect(page.locator("#log-service")).to_have_value("checkout")
    expect(page.locator("#template-detail section.card")).to_contain_text(f"Template {login['id']}")
    expect(page.locator("#template-detail table.params")).to_contain_text("10.0.0.1")

    page.goto("/#/logs")
    rows = page.locator("#templates-table tbody tr")
    expect(rows).to_have_count(3)  # every service, with a service column
    page.fill("#log-search", "cache miss")
    page.keyboard.press("Enter")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("search-api")
    expect(page).to_have_url(re.compile(r"q=cache(\+|%20)miss"))
    page.fill("#log-search", "no such text")
    page.keyboard.press("Enter")
    expect(page.locator(".empty-state")).to_contain_text("No template matches")

    page.goto("/#/logs?id=999999")
    expect(page.locator("#template-detail .error-box")).to_contain_text("999999")  # the server's message
    assert not page.js_errors


def test_logs_page_reads_at_a_narrow_width(browser, ui_server, pushed) -> None:  # noqa: ANN001
    from playwright.sync_api import expect

    timeout = pushed["timeout calling payments after <*> ms"]
    context = browser.new_context(viewport={"width": 420, "height": 800}, base_url=ui_server.url)
    try:
        page = context.new_page()
        page.goto(f"/#/logs?service=checkout&id={timeout['id']}")
        detail = page.locator("#template-detail section.card")
        expect(detail.locator(".template-chart svg.chart")).to_be_visible()
        assert page.evaluate("document.documentElement.scrollWidth") <= 440  # no page-wide horizontal scroll
        shot(page, "logs-template-detail-narrow")
    finally:
        context.close()


def test_templates_named_by_log_anomalies_are_marked(page, ui_server, pushed) -> None:  # noqa: ANN001
    from playwright.sync_api import expect

    timeout = pushed["timeout calling payments after <*> ms"]
    event = {"time": timeout["last_seen"], "kind": "log_anomaly", "source": "logs", "service": "checkout",
             "labels": {"service": "checkout", "direction": "up"}, "severity": "warning", "status": "firing",
             "text": "template burst", "values": {"observed": 3, "expected_low": 0, "expected_high": 1},
             "evidence": {"template_id": timeout["id"], "template": timeout["template"]}}
    resp = httpx.post(f"{ui_server.url}/api/opsloop/v1/events", json={"events": [event]})
    if resp.status_code == 404:
        pytest.skip("this server has no events API")
    assert resp.status_code < 300, resp.text
    page.goto("/#/logs?service=checkout")
    row = page.locator(f"#templates-table tr[data-id='{timeout['id']}']")
    expect(row.locator(".badge")).to_contain_text("anomalous")
    expect(page.locator("#log-anomalies")).to_contain_text("timeout calling payments after <*> ms")
    page.locator("#log-anomalies").get_by_role("button").click()  # opens the template's detail
    detail = page.locator("#template-detail section.card")
    expect(detail).to_contain_text("1 log-anomaly signal")
    expect(detail.locator("svg.chart circle.anomaly")).to_have_count(1)
    assert not page.js_errors


def test_a_long_template_wraps_inside_its_detail(page, ui_server) -> None:  # noqa: ANN001
    # An 8,000-character line (a payload logged whole) ran out of the detail card, unreadable past its edge.
    from playwright.sync_api import expect

    lines = [f"payload={'A' * 8000} id={i}" for i in range(3)]
    assert httpx.post(f"{ui_server.url}/v1/logs", json=_otlp("bulky", lines)).status_code < 300
    [template] = _wait_for_templates(ui_server.url, "bulky", 1, 3)
    page.goto(f"/#/logs?service=bulky&id={template['id']}")
    card = page.locator("#template-detail section.card")
    text = card.locator("code.log-template").first
    expect(text).to_contain_text("payload=AAAA")
    box, edge = text.bounding_box(), card.bounding_box()
    assert box["x"] + box["width"] <= edge["x"] + edge["width"] + 1, (box, edge)
    assert not page.js_errors
