"""Incidents in Chromium: an Alertmanager alert becomes an incident that appears without reload,
then is acknowledged and resolved from its page."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from tests.ui.conftest import shot

pytestmark = pytest.mark.browser


def _alert(name: str, service: str, ago_s: float = 0.0) -> dict:
    """A firing Alertmanager webhook; alerts of unrelated services posted minutes apart (``ago_s``) are
    separate incidents (the tests share one server, which has no topology and groups by time proximity)."""
    return {
        "version": "4", "status": "firing", "receiver": "opsloop", "groupKey": f"{{}}:{{alertname=\"{name}\"}}",
        "groupLabels": {"alertname": name}, "commonLabels": {"alertname": name, "service": service},
        "commonAnnotations": {}, "externalURL": "http://alertmanager:9093", "truncatedAlerts": 0,
        "alerts": [{
            "status": "firing", "labels": {"alertname": name, "service": service, "severity": "critical"},
            "annotations": {"summary": f"{name} on {service}: p99 latency above 2s"},
            "startsAt": (datetime.now(UTC) - timedelta(seconds=ago_s)).isoformat(), "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://prometheus:9090/graph", "fingerprint": f"{abs(hash(name + service)):016x}"[:16],
        }],
    }


@pytest.fixture(scope="module")
def incidents_api(ui_server) -> str:  # noqa: ANN001
    if httpx.get(f"{ui_server.url}/api/opsloop/v1/incidents").status_code == 404:
        pytest.skip("this server has no incidents API (/api/opsloop/v1/incidents) yet")
    return ui_server.url


def test_fired_alert_appears_live_and_is_acknowledged_then_resolved(page, incidents_api: str) -> None:  # noqa: ANN001
    from playwright.sync_api import expect

    page.goto("/#/incidents")
    expect(page.locator("#live-status")).to_contain_text("Live")
    page.evaluate("window.__sameDocument = true")
    shot(page, "incidents-before")
    resp = httpx.post(f"{incidents_api}/api/opsloop/v1/ingest/alertmanager", json=_alert("HighLatency", "checkout"))
    assert resp.status_code < 300, resp.text
    row = page.locator("#incidents-table tbody tr", has_text="checkout")
    expect(row).to_be_visible(timeout=20_000)
    assert page.evaluate("window.__sameDocument === true")  # no reload happened
    shot(page, "incidents")
    page.select_option("#state-filter", "triggered")
    assert "state=triggered" in page.url
    expect(row).to_be_visible()
    row.locator("a.incident-link").click()
    expect(page.locator("h1")).to_contain_text("triggered")
    expect(page.locator("#signals-table")).to_contain_text("checkout")
    page.fill("#comment-text", "looking at the checkout pods")
    page.locator("button[data-action='assign']").click()
    expect(page.locator("table.kv tr", has_text="Assignee")).to_contain_text("ui-user")
    page.fill("#comment-text", "looking at the checkout pods")
    page.locator("button[data-action='ack']").click()
    expect(page.locator("h1")).to_contain_text("acknowledged")
    page.locator("button[data-action='resolve']").click()
    expect(page.locator("h1")).to_contain_text("resolved")
    expect(page.locator("button[data-action='reopen']")).to_be_enabled()
    expect(page.locator("#timeline")).to_contain_text("ui-user")
    time.sleep(0.2)
    shot(page, "incident")
    assert not page.js_errors


def test_incident_page_charts_the_anomalous_metric_with_its_expected_band(page, incidents_api: str) -> None:  # noqa: ANN001
    from playwright.sync_api import expect

    now = time.time()
    points = [{"time": now - 600 + 30 * i, "value": 120.0 + (i % 3) + (300.0 if i >= 17 else 0.0),
               "expected_low": 100.0, "expected_high": 140.0} for i in range(20)]
    events = {"events": [
        {"time": now, "kind": "metric_anomaly", "source": "detector:seasonal", "service": "payments",
         "labels": {"__name__": "http_latency_ms", "service": "payments"}, "severity": "error",
         "text": "http_latency_ms = 421 outside expected [100, 140]",
         "values": {"observed": 421.0, "expected_low": 100.0, "expected_high": 140.0}, "evidence": {"points": points}},
        {"time": now, "kind": "log_anomaly", "source": "logs", "service": "payments",
         "labels": {"service": "payments"}, "severity": "warning", "text": "template burst",
         "values": {"observed": 57.0}, "evidence": {"template": "timeout calling <*> after <NUM> ms"}},
    ]}
    resp = httpx.post(f"{incidents_api}/api/opsloop/v1/events", json=events)
    assert resp.status_code < 300, resp.text
    found = httpx.get(f"{incidents_api}/api/opsloop/v1/incidents", params={"service": "payments"}).json()["incidents"]
    assert found, "the metric anomaly opened no incident"
    incident = httpx.get(f"{incidents_api}/api/opsloop/v1/incidents/{found[0]['id']}").json()
    page.goto(f"/#/incidents/{found[0]['id']}")
    card = page.locator(".metric-anomaly", has_text="http_latency_ms")
    expect(card.locator("svg polygon.band")).to_have_count(1)
    expect(card.locator("svg polyline")).to_have_count(1)
    expect(card.locator("svg circle.anomaly").first).to_be_visible()
    if any((s.get("evidence") or {}).get("template") for s in incident["signals"]):
        expect(page.get_by_text("timeout calling <*> after <NUM> ms")).to_be_visible()
    shot(page, "incident-metric")
    page.set_viewport_size({"width": 400, "height": 800})
    expect(card.locator("svg polygon.band")).to_have_count(1)
    assert page.evaluate("document.documentElement.scrollWidth") <= 401
    shot(page, "incident-narrow")
    assert not page.js_errors


def test_merge_from_the_list_and_split_from_the_incident(page, incidents_api: str) -> None:  # noqa: ANN001
    from playwright.sync_api import expect

    for name, service, ago in [("DiskFullData", "storage-a", 1800), ("DiskFullLogs", "storage-b", 1200)]:
        httpx.post(f"{incidents_api}/api/opsloop/v1/ingest/alertmanager", json=_alert(name, service, ago)
                   ).raise_for_status()
    page.goto("/#/incidents?q=DiskFull")
    rows = page.locator("#incidents-table tbody tr")
    expect(rows).to_have_count(2)
    for i in range(2):
        rows.nth(i).locator("input[type=checkbox]").check()
    page.get_by_role("button", name="Merge selected").click()
    expect(page.locator(".notice")).to_contain_text("Merged 1 incident(s)")
    merged = httpx.get(f"{incidents_api}/api/opsloop/v1/incidents", params={"q": "DiskFull"}).json()["incidents"]
    target = max(merged, key=lambda inc: inc["signal_count"])
    assert target["signal_count"] == 2
    page.goto(f"/#/incidents/{target['id']}")
    signals = page.locator("#signals-table tbody tr")
    expect(signals).to_have_count(2)
    signals.filter(has_text="storage-b").locator("input[type=checkbox]").check()
    page.get_by_role("button", name="Split selected into a new incident").click()
    expect(page.locator(".notice")).to_contain_text("Split 1 signal(s)")
    expect(signals).to_have_count(1)
    assert not page.js_errors


def test_live_refresh_keeps_keyboard_focus_in_the_list(page, incidents_api: str) -> None:  # noqa: ANN001
    from playwright.sync_api import expect

    httpx.post(f"{incidents_api}/api/opsloop/v1/ingest/alertmanager", json=_alert("QueueBacklog", "billing", 3600)
               ).raise_for_status()
    page.goto("/#/incidents?q=QueueBacklog")
    link = page.locator("#incidents-table a.incident-link", has_text="QueueBacklog")
    expect(link).to_be_visible()
    link.focus()
    httpx.post(f"{incidents_api}/api/opsloop/v1/ingest/alertmanager", json=_alert("QueueBacklogStuck", "ledger", 3000)
               ).raise_for_status()
    expect(page.locator("#incidents-table tbody tr")).to_have_count(2, timeout=20_000)
    assert page.evaluate("document.activeElement.classList.contains('incident-link')")
    page.keyboard.press("Enter")
    expect(page.locator("h1")).to_contain_text("QueueBacklog")
    assert not page.js_errors


def test_incident_page_ranks_probable_root_causes(page, incidents_api: str) -> None:  # noqa: ANN001
    from playwright.sync_api import expect

    api = f"{incidents_api}/api/opsloop/v1"
    httpx.post(f"{api}/topology", json={"services": {"rc-web": ["rc-api"], "rc-api": ["rc-db"]}}).raise_for_status()
    # the callers alert first; the database they both sit on a little later (its rule waits longer)
    for name, service in (("HighLatency", "rc-web"), ("Errors", "rc-api"), ("ConnectionsExhausted", "rc-db")):
        httpx.post(f"{api}/ingest/alertmanager", json=_alert(name, service)).raise_for_status()
        time.sleep(0.05)
    found = [i for i in httpx.get(f"{api}/incidents", params={"service": "rc-db"}).json()["incidents"]]
    assert len(found) == 1
    page.goto(f"/#/incidents/{found[0]['id']}")
    causes = page.locator("ol.root-causes > li")
    expect(causes.first).to_contain_text("rc-db")
    expect(causes.first).to_contain_text("2 of the 2 other alerting services depend on it")
    expect(causes).to_have_count(3)
    expect(causes.nth(2)).to_contain_text("rc-web")
    expect(causes.first.locator("a").first).to_have_attribute("href", "#/services?service=rc-db")
    shot(page, "incident-root-causes")
    assert not page.js_errors
    grouped = page.locator("ul.grouping-reasons > li", has_text="ConnectionsExhausted")
    expect(grouped).to_contain_text("rc-db")
    expect(grouped).to_contain_text("rc-db is a dependency of rc-api (declared topology)")  # the reason, not just the text


def test_a_root_alerting_too_late_links_to_its_incident_which_merges_in_one_click(page, incidents_api: str) -> None:  # noqa: ANN001
    from playwright.sync_api import expect

    api = f"{incidents_api}/api/opsloop/v1"
    httpx.post(f"{api}/topology", json={"services": {"lr-api": ["lr-db"], "lr-worker": ["lr-db"]}}).raise_for_status()
    # both callers of lr-db alert first and keep alerting; lr-db's own rule fires over 5 minutes later
    for name, service, ago in (("Errors", "lr-api", 400), ("Errors", "lr-worker", 395), ("Latency", "lr-api", 320),
                               ("Saturation", "lr-api", 240), ("Down", "lr-db", 0)):
        httpx.post(f"{api}/ingest/alertmanager", json=_alert(name, service, ago)).raise_for_status()
    callers = httpx.get(f"{api}/incidents", params={"service": "lr-api"}).json()["incidents"]
    own = httpx.get(f"{api}/incidents", params={"service": "lr-db"}).json()["incidents"]
    assert len(callers) == 1 and len(own) == 1 and callers[0]["id"] != own[0]["id"]
    page.goto(f"/#/incidents/{callers[0]['id']}")
    db = page.locator("ol.root-causes > li", has_text="lr-db")
    expect(db).to_contain_text("no alert of its own in this incident")
    link = db.locator("p.alerting-elsewhere a")
    expect(link).to_have_text(f"incident {own[0]['id']}")
    expect(link).to_have_attribute("href", f"#/incidents/{own[0]['id']}")
    shot(page, "incident-root-alerting-elsewhere")
    db.locator("button[data-action='merge-elsewhere']").click()
    expect(page.locator("[role=status]")).to_contain_text(f"Merged incident {own[0]['id']} into this one.")
    services = httpx.get(f"{api}/incidents/{callers[0]['id']}").json()["services"]
    assert "lr-db" in services
    assert httpx.get(f"{api}/incidents/{own[0]['id']}").json()["merged_into"] == callers[0]["id"]
    assert not page.js_errors


def test_an_incident_shows_when_its_first_signal_started_beside_when_it_was_opened(page, incidents_api: str) -> None:  # noqa: ANN001
    """An alert delivered an hour after it started (a replay, a held-back webhook): the incident's page
    says it started an hour ago, not only that it was opened now."""
    from playwright.sync_api import expect

    alert = _alert("QueueBacklog", "billing-late", ago_s=3600)
    assert httpx.post(f"{incidents_api}/api/opsloop/v1/ingest/alertmanager", json=alert).status_code < 300
    found = httpx.get(f"{incidents_api}/api/opsloop/v1/incidents", params={"service": "billing-late"}).json()
    [listed] = found["incidents"]
    inc = httpx.get(f"{incidents_api}/api/opsloop/v1/incidents/{listed['id']}").json()
    page.goto(f"/#/incidents/{inc['id']}")
    expected = page.evaluate("(s) => import('/static/dom.js').then((m) => [m.fmtEpoch(s[0]), m.fmtEpoch(s[1])])",
                             [inc["first_signal_at"], inc["created_at"]])
    assert expected[0] != expected[1]
    expect(page.locator("table.kv tr", has_text="Started")).to_contain_text(expected[0])
    expect(page.locator("table.kv tr", has_text="Opened")).to_contain_text(expected[1])
    assert not page.js_errors


def test_the_list_says_a_late_delivered_incident_started_before_it_was_opened(page, incidents_api: str) -> None:  # noqa: ANN001
    """In the list too: "Opened 3s ago" alone read as fresh trouble an alert that began two hours ago."""
    from playwright.sync_api import expect

    api = f"{incidents_api}/api/opsloop/v1"
    assert httpx.post(f"{api}/ingest/alertmanager", json=_alert("DiskPressure", "ledger-late", ago_s=7200)).is_success
    [late] = httpx.get(f"{api}/incidents", params={"service": "ledger-late"}).json()["incidents"]
    assert late["created_at"] - late["first_signal_at"] >= 7000
    assert httpx.post(f"{api}/ingest/alertmanager", json=_alert("DiskFull", "ledger-now")).is_success
    [now] = httpx.get(f"{api}/incidents", params={"service": "ledger-now"}).json()["incidents"]
    page.goto("/#/incidents")
    expect(page.locator("tr", has=page.get_by_role("link", name=late["title"]))).to_contain_text("started 2h ago")
    on_time = page.locator("tr", has=page.get_by_role("link", name=now["title"]))
    expect(on_time).to_contain_text("ago")
    assert "started" not in on_time.inner_text()  # an alert posted as it started says nothing more
    assert not page.js_errors


def test_an_alerts_annotations_and_its_prometheus_source_show_under_its_signal(page, incidents_api: str) -> None:  # noqa: ANN001
    """The description and runbook_url of an alert, and the link to the rule's expression (generatorURL) that
    Alertmanager shows, were nowhere on the incident page; a javascript: address sent as one is no link."""
    from playwright.sync_api import expect

    alert = _alert("ReplicaLag", "annot-db")
    alert["alerts"][0]["annotations"].update({
        "description": "replica lag is 42s on <b>db-2</b>", "runbook_url": "https://runbooks.example/replica-lag",
        "dashboard_url": "javascript:window.__xss=1"})
    alert["alerts"][0]["generatorURL"] = "http://prometheus:9090/graph?g0.expr=pg_replication_lag%3E30"
    httpx.post(f"{incidents_api}/api/opsloop/v1/ingest/alertmanager", json=alert).raise_for_status()
    bad = _alert("ReplicaLag2", "annot-db2")
    bad["alerts"][0]["generatorURL"] = "javascript:window.__xss=2"
    httpx.post(f"{incidents_api}/api/opsloop/v1/ingest/alertmanager", json=bad).raise_for_status()
    [inc] = httpx.get(f"{incidents_api}/api/opsloop/v1/incidents", params={"service": "annot-db"}).json()["incidents"]
    page.goto(f"/#/incidents/{inc['id']}")
    row = page.locator("#signals-table tbody tr", has_text="annot-db").filter(has_not_text="annot-db2")
    expect(row.locator("a.alert-source")).to_have_attribute("href", alert["alerts"][0]["generatorURL"])
    row.locator("summary", has_text="Annotations (3)").click()
    notes = row.locator("dl.annotations")
    expect(notes).to_contain_text("replica lag is 42s on <b>db-2</b>")
    expect(notes.locator("a")).to_have_count(1)
    expect(notes.locator("a")).to_have_attribute("href", "https://runbooks.example/replica-lag")
    expect(notes).to_contain_text("javascript:window.__xss=1")
    [other] = httpx.get(f"{incidents_api}/api/opsloop/v1/incidents", params={"service": "annot-db2"}).json()["incidents"]
    page.goto(f"/#/incidents/{other['id']}")
    bad_row = page.locator("#signals-table tbody tr", has_text="annot-db2")
    expect(bad_row).to_have_count(1)
    expect(bad_row.locator("a")).to_have_count(0)
    assert not page.js_errors


def test_the_list_and_an_incident_recover_by_themselves_after_a_failed_refresh(page, incidents_api: str) -> None:  # noqa: ANN001
    """A refresh that fails (the server restarting) left the list on its error until an incident changed,
    and stopped the incident page's polling for good."""
    import re

    from playwright.sync_api import expect

    httpx.post(f"{incidents_api}/api/opsloop/v1/ingest/alertmanager", json=_alert("CertExpiring", "blip-edge", 5400)
               ).raise_for_status()
    [inc] = httpx.get(f"{incidents_api}/api/opsloop/v1/incidents", params={"service": "blip-edge"}).json()["incidents"]
    api = re.compile(r"/api/opsloop/v1/incidents(/\d+)?(\?.*)?$")
    for view, ready in (("/#/incidents?q=CertExpiring", "#incidents-table"), (f"/#/incidents/{inc['id']}", "#signals-table")):
        page.goto(view)
        expect(page.locator(ready)).to_be_visible()
        page.route(api, lambda route: route.abort())
        expect(page.locator(".error-box")).to_be_visible(timeout=10_000)
        page.unroute(api)
        expect(page.locator(".error-box")).to_have_count(0, timeout=10_000)
        expect(page.locator(ready)).to_contain_text("blip-edge")
    assert not page.js_errors


def test_a_link_to_an_incident_id_that_is_no_number_says_not_found(page, incidents_api: str) -> None:  # noqa: ANN001
    from playwright.sync_api import expect

    page.goto("/#/incidents/not-a-number")
    expect(page.locator(".empty-state h2")).to_have_text("Incident not found")
    assert not page.js_errors


def test_the_list_shows_assignees_and_filters_to_mine(page, incidents_api: str) -> None:  # noqa: ANN001
    """The list had no assignee column and no way to the incidents assigned to me (the API filters by it)."""
    from playwright.sync_api import expect

    api = f"{incidents_api}/api/opsloop/v1"
    for name, service, ago in (("TlsHandshake", "mine-gw", 9000), ("TlsHandshake", "theirs-gw", 7200)):
        httpx.post(f"{api}/ingest/alertmanager", json=_alert(name, service, ago)).raise_for_status()
    [mine] = httpx.get(f"{api}/incidents", params={"service": "mine-gw"}).json()["incidents"]
    [theirs] = httpx.get(f"{api}/incidents", params={"service": "theirs-gw"}).json()["incidents"]
    httpx.post(f"{api}/incidents/{mine['id']}/assign", json={"assignee": "alice", "actor": "alice"}).raise_for_status()
    httpx.post(f"{api}/incidents/{theirs['id']}/assign", json={"assignee": "bob", "actor": "bob"}).raise_for_status()
    page.goto("/#/incidents?q=TlsHandshake")
    page.evaluate("localStorage.setItem('opsloop.actor', 'alice')")
    rows = page.locator("#incidents-table tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.filter(has_text="theirs-gw")).to_contain_text("bob")
    page.locator("#mine-filter").click()
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("mine-gw")
    expect(rows.first).to_contain_text("alice")
    assert "assignee=alice" in page.url
    page.reload()
    expect(rows).to_have_count(1)
    assert page.input_value("#assignee-filter") == "alice"
    assert not page.js_errors


def test_an_alert_storm_incident_draws_the_first_100_signals_with_show_all(page, incidents_api: str) -> None:  # noqa: ANN001
    """150 signals made the page 16,000 px of signal rows, grouping reasons and timeline entries, with the
    acknowledgement lost among them."""
    from playwright.sync_api import expect

    api = f"{incidents_api}/api/opsloop/v1"
    now = time.time()
    storm = [{"time": now - 300 + i, "kind": "alert", "source": "prometheus", "service": "storm-svc",
              "labels": {"alertname": "PodCrashLooping", "service": "storm-svc", "pod": f"web-{i}"},
              "severity": "warning", "text": f"pod web-{i} crash looping"} for i in range(150)]
    opened = httpx.post(f"{api}/events", json={"events": storm}).json()["incidents_opened"]
    assert len(opened) == 1
    incident = opened[0]
    httpx.post(f"{api}/incidents/{incident}/ack", json={"actor": "oncall", "text": "rolling back"}).raise_for_status()
    page.goto(f"/#/incidents/{incident}")
    rows = page.locator("#signals-table tbody tr")
    expect(rows).to_have_count(100)
    expect(page.locator("ul.grouping-reasons > li")).to_have_count(100)
    expect(page.locator("#timeline li[data-kind='signal']")).to_have_count(100)
    expect(page.locator("#timeline")).to_contain_text("oncall")  # the acknowledgement after the 150 signals
    page.locator("button[data-show-all='signals']").click()
    expect(rows).to_have_count(150)
    httpx.post(f"{api}/incidents/{incident}/comment", json={"actor": "oncall", "text": "v41 rolled back"}).raise_for_status()
    expect(page.locator("#timeline")).to_contain_text("v41 rolled back", timeout=10_000)
    expect(rows).to_have_count(150)  # redrawn for the comment, still showing all
    expect(page.locator("#timeline li[data-kind='signal']")).to_have_count(100)
    assert not page.js_errors


def test_an_empty_comment_or_merge_says_what_is_missing(page, incidents_api: str) -> None:  # noqa: ANN001
    """'Add comment' with an empty box and 'Merge' without ids did nothing at all."""
    from playwright.sync_api import expect

    httpx.post(f"{incidents_api}/api/opsloop/v1/ingest/alertmanager", json=_alert("NoteLess", "quiet-svc", 10800)
               ).raise_for_status()
    [inc] = httpx.get(f"{incidents_api}/api/opsloop/v1/incidents", params={"service": "quiet-svc"}).json()["incidents"]
    page.goto(f"/#/incidents/{inc['id']}")
    page.locator("button[data-action='comment']").click()
    expect(page.get_by_role("alert")).to_contain_text("Type the comment")
    assert page.evaluate("document.activeElement.id") == "comment-text"
    page.get_by_role("button", name="Merge", exact=True).click()
    expect(page.get_by_role("alert")).to_contain_text("ids of the incidents to merge")
    assert not page.js_errors
