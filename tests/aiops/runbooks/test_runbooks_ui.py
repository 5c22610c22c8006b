"""The incident page in Chromium: its Runbooks section lists the runs with their state and output,
and a button per manual runbook queues a run that appears without a reload."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import httpx
import pytest
from tests.aiops.ingestion._helpers import API, alert, am_payload
from tests.aiops.runbooks._helpers import python

pytestmark = pytest.mark.browser

CHROMIUM = Path(os.environ.get("OPSLOOP_TEST_CHROMIUM", "/usr/bin/chromium"))
SCREENSHOTS = Path(__file__).resolve().parents[3] / "test-artifacts" / "screenshots"
ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.mark.skipif(not CHROMIUM.exists(), reason=f"Debian's chromium is not installed at {CHROMIUM}")
def test_incident_page_lists_runbook_runs_and_runs_a_manual_runbook(opsloop_server) -> None:  # noqa: ANN001
    server = opsloop_server()
    c = httpx.Client(base_url=server.url, timeout=30.0)
    assert c.put(API + "/aiops/config/runbooks", json=[
        {"name": "diagnose", "trigger": {}, "action": {"type": "command", "argv": python("print('disk at 97%')")}},
        {"name": "restart", "description": "restart the service",
         "action": {"type": "command", "argv": python("print('restarted')")}},
    ]).status_code == 200
    incident_id = c.post(API + "/ingest/alertmanager",
                         json=am_payload([alert("DiskFull", "db")])).json()["incidents_opened"][0]
    _in_own_thread(lambda: _drive(server.url, incident_id))


def _in_own_thread(fn) -> None:  # noqa: ANN001
    """Run ``fn`` in a thread: Playwright's sync API refuses a thread where an asyncio loop runs (as in a
    session that also ran the tests/ui fixtures)."""
    errors: list[BaseException] = []

    def target() -> None:
        try:
            fn()
        except BaseException as exc:  # noqa: BLE001 - re-raised in the test's thread
            errors.append(exc)

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if errors:
        raise errors[0]


def _drive(url: str, incident_id: int) -> None:
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            page = browser.new_page(base_url=url)
            page.set_default_timeout(20_000)
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(f"/#/incidents/{incident_id}")
            runs = page.locator("#runbook-runs")
            expect(runs.locator("tr[data-state='succeeded']", has_text="diagnose")).to_be_visible()
            runs.locator("summary").first.click()
            expect(runs).to_contain_text("disk at 97%")
            page.locator("button[data-runbook='restart']").click()
            expect(runs.locator("tr[data-state='succeeded']", has_text="restart")).to_be_visible()
            expect(page.locator("#timeline")).to_contain_text("runbook 'restart' succeeded")
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            page.locator("#runbook-runs").screenshot(path=str(SCREENSHOTS / "incident-runbooks.png"))
            assert not errors
        finally:
            browser.close()
