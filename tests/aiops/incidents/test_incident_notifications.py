"""Notifications: routing, generic JSON and Slack bodies, retries with backoff, dead letters, replay.

A target that is down loses nothing: the notification waits in the outbox, becomes a dead letter after
its attempts, and is delivered when an operator replays it once the target is back.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from tests.aiops.ingestion._helpers import API, alert, am_payload, incidents
from tests.conftest import free_port

from opsloop.aiops.incidents.notifications import Target, incident_payload, slack_body
from opsloop.errors import InvalidInputError

AM = API + "/ingest/alertmanager"


class Receiver:
    """A webhook receiver on loopback that records what it is sent."""

    def __init__(self, port: int, status: int = 200, first: tuple[int, ...] = (), delay_s: float = 0.0) -> None:
        self.port, self.status, self.bodies = port, status, []
        self.headers: list[dict[str, str]] = []  # each request's, in the order of ``bodies``
        self.first = list(first)  # the answers to the first requests, then ``status``
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers["content-length"]))
                # the answer is chosen before the request is recorded: a test that changes ``status`` once
                # it sees a request changes the answers of the requests after it, never that one's
                status = outer.first.pop(0) if outer.first else outer.status
                outer.headers.append({k.lower(): v for k, v in self.headers.items()})
                outer.bodies.append((self.path, json.loads(body)))
                time.sleep(delay_s)  # a slow receiver: it has the body, its answer is not back yet
                self.send_response(status)
                self.end_headers()

            def log_message(self, *args) -> None:  # noqa: ANN002
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def wait(pred, timeout: float = 20.0):  # noqa: ANN001, ANN201
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = pred()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("timed out")


def _fast(client) -> None:  # noqa: ANN001
    d = client.app.state.aiops.dispatcher
    d.base_delay_s, d.max_delay_s, d.max_attempts = 0.05, 0.2, 3


def test_target_validation_and_routing() -> None:
    t = Target.from_dict({"name": "db-team", "url": "http://127.0.0.1:1/x", "matchers": ['service="db"'],
                          "min_severity": "error", "events": ["opened"]})
    inc = {"id": 1, "title": "x", "state": "triggered", "severity": 4, "service": "db", "labels": {}}
    assert t.wants("opened", inc)
    assert not t.wants("resolved", inc)
    assert not t.wants("opened", {**inc, "severity": 2})
    assert not t.wants("opened", {**inc, "service": "web"})
    for bad in ({"name": "x"}, {"name": "x", "url": "ftp://a"}, {"name": "x", "url": "http://a", "format": "xml"},
                {"name": "x", "url": "http://a", "events": ["exploded"]}):
        with pytest.raises(InvalidInputError):
            Target.from_dict(bad)
    body = slack_body(incident_payload("opened", {**inc, "services": ["db"], "signal_count": 3}, 1.0))
    assert body["text"].startswith("[OPENED] Incident #1") and body["attachments"][0]["color"] == "danger"


def test_delivery_json_and_slack(client) -> None:  # noqa: ANN001
    rx = Receiver(free_port())
    try:
        base = f"http://127.0.0.1:{rx.port}"
        r = client.put(API + "/notifications/targets", json=[
            {"name": "generic", "url": base + "/generic"},
            {"name": "slack", "url": base + "/slack", "format": "slack", "min_severity": "critical"},
            {"name": "web-only", "url": base + "/web", "matchers": ['service="web"']}])
        assert r.status_code == 200
        client.post(AM, json=am_payload([alert("Down", "db", severity="critical")]))
        wait(lambda: len(rx.bodies) >= 2)
        paths = sorted(p for p, _ in rx.bodies)
        assert paths == ["/generic", "/slack"]
        generic = next(b for p, b in rx.bodies if p == "/generic")
        assert generic["event"] == "opened" and generic["incident"]["service"] == "db"
        slack = next(b for p, b in rx.bodies if p == "/slack")
        assert "Incident #" in slack["text"] and slack["attachments"]
        [inc] = incidents(client)
        client.post(f"{API}/incidents/{inc['id']}/ack", json={"actor": "ann"})
        wait(lambda: any(b.get("event") == "acknowledged" for _, b in rx.bodies))
        # a notification is marked delivered once its answer is back, a moment after the receiver has its body
        wait(lambda: len(client.get(API + "/notifications", params={"state": "delivered"}).json()["notifications"]) >= 3)
    finally:
        rx.close()


def test_target_down_loses_nothing(client) -> None:  # noqa: ANN001
    _fast(client)
    port = free_port()  # nothing listens here yet
    client.put(API + "/notifications/targets", json=[{"name": "oncall", "url": f"http://127.0.0.1:{port}/hook"}])
    client.post(AM, json=am_payload([alert("Down", "db")]))
    client.post(AM, json=am_payload([alert("Down", "api", start=time.time() + 2000)]))
    dead = wait(lambda: (lambda d: d if len(d) == 2 else None)(
        client.get(API + "/notifications", params={"state": "dead"}).json()["notifications"]))
    assert all(n["attempts"] == 3 and n["last_error"] for n in dead)
    rx = Receiver(port)
    try:
        r = client.post(API + "/notifications/replay", json={"actor": "ann"})
        assert r.json() == {"replayed": 2, "superseded": 0}
        wait(lambda: len(rx.bodies) == 2)
        assert sorted(b["incident"]["service"] for _, b in rx.bodies) == ["api", "db"]
        assert client.get(API + "/notifications", params={"state": "dead"}).json()["notifications"] == []
    finally:
        rx.close()


def test_transient_failures_are_retried(client) -> None:  # noqa: ANN001
    _fast(client)
    client.app.state.aiops.dispatcher.max_attempts = 10
    rx = Receiver(free_port(), status=503)
    try:
        client.put(API + "/notifications/targets", json=[{"name": "flaky", "url": f"http://127.0.0.1:{rx.port}/"}])
        client.post(AM, json=am_payload([alert("Down", "db")]))
        wait(lambda: len(rx.bodies) >= 2)
        rx.status = 200
        rows = wait(lambda: client.get(API + "/notifications", params={"state": "delivered"}).json()["notifications"])
        assert rows[0]["attempts"] >= 3
        assert len({b["incident"]["id"] for _, b in rx.bodies}) == 1
    finally:
        rx.close()


def test_pending_notifications_survive_a_restart(tmp_path) -> None:  # noqa: ANN001
    from tests.aiops.ingestion._helpers import aiops_client

    port = free_port()
    with aiops_client(tmp_path) as c:
        d = c.app.state.aiops.dispatcher
        d.base_delay_s, d.max_delay_s, d.max_attempts = 0.05, 0.1, 1000
        c.put(API + "/notifications/targets", json=[{"name": "oncall", "url": f"http://127.0.0.1:{port}/"}])
        c.post(AM, json=am_payload([alert("Down", "db")]))
        wait(lambda: c.get(API + "/notifications", params={"state": "pending"}).json()["notifications"][0]["attempts"])
    rx = Receiver(port)
    try:
        with aiops_client(tmp_path) as c:
            wait(lambda: c.get(API + "/notifications", params={"state": "delivered"}).json()["notifications"])
        assert [b["event"] for _, b in rx.bodies] == ["opened"]
    finally:
        rx.close()


def test_pagerduty_events_follow_the_incident(client) -> None:  # noqa: ANN001
    rx = Receiver(free_port(), status=202)  # PagerDuty answers 202 Accepted
    try:
        r = client.put(API + "/notifications/targets", json=[
            {"name": "pd", "url": f"http://127.0.0.1:{rx.port}/v2/enqueue", "format": "pagerduty",
             "routing_key": "R0UT1NG"}])
        assert r.status_code == 200, r.text
        client.post(AM, json=am_payload([alert("Down", "db", severity="critical")]))
        [inc] = incidents(client)
        client.post(f"{API}/incidents/{inc['id']}/ack", json={"actor": "ann"})
        wait(lambda: len(rx.bodies) >= 2)
        client.post(f"{API}/incidents/{inc['id']}/resolve", json={"actor": "ann", "text": "failed over"})
        wait(lambda: len(rx.bodies) >= 3)
        bodies = [b for _, b in rx.bodies]
        assert [b["event_action"] for b in bodies] == ["trigger", "acknowledge", "resolve"]
        assert {b["dedup_key"] for b in bodies} == {f"opsloop-incident-{inc['id']}"}
        assert all(b["routing_key"] == "R0UT1NG" for b in bodies)
        trigger = bodies[0]["payload"]
        assert trigger["severity"] == "critical" and trigger["source"] == "db"
        assert trigger["summary"].startswith(f"Incident #{inc['id']}:") and trigger["timestamp"].endswith("Z")
        assert trigger["component"] == "db" and trigger["group"] == "db"
        assert "payload" not in bodies[1] and "payload" not in bodies[2]
    finally:
        rx.close()


def test_a_pagerduty_event_without_a_service_sends_no_null_strings() -> None:
    from opsloop.aiops.incidents.notifications import pagerduty_body

    incident = {"id": 3, "title": "CPU high", "service": "", "services": [], "severity": "warning", "labels": {},
                "signal_count": 1, "state": "triggered", "assignee": ""}
    body = pagerduty_body({"event": "opened", "time": 1_700_000_000.0, "incident": incident}, "KEY")
    assert body["payload"]["source"] == "opsloop"
    assert None not in body["payload"].values() and "component" not in body["payload"]


def _page_through(client, rx: Receiver) -> dict:  # noqa: ANN001
    """A PagerDuty target at ``rx``, and a critical alert that opens an incident (returned)."""
    client.put(API + "/notifications/targets", json=[
        {"name": "pd", "url": f"http://127.0.0.1:{rx.port}/v2/enqueue", "format": "pagerduty", "routing_key": "R0UT1NG"}])
    client.post(AM, json=am_payload([alert("Down", "db", severity="critical")]))
    [inc] = incidents(client)
    return inc


def test_a_retried_notification_keeps_its_incidents_events_in_order(client) -> None:  # noqa: ANN001
    """While an incident's 'opened' waits for its retry, its 'acknowledged' and 'resolved' wait behind it:
    PagerDuty must not get trigger after resolve (a page left open for an incident already resolved)."""
    d = client.app.state.aiops.dispatcher
    d.base_delay_s, d.max_delay_s = 1.0, 1.0
    rx = Receiver(free_port(), status=202, first=(503,))
    try:
        inc = _page_through(client, rx)
        wait(lambda: rx.bodies)  # the trigger failed; its retry is a second away
        client.post(f"{API}/incidents/{inc['id']}/ack", json={"actor": "ann"})
        client.post(f"{API}/incidents/{inc['id']}/resolve", json={"actor": "ann", "text": "failed over"})
        # every notification delivered (each is marked so once its answer is back, a moment after the
        # receiver has its body) and no other one in the outbox: nothing else is on its way
        wait(lambda: len(client.get(API + "/notifications", params={"state": "delivered"}).json()["notifications"]) == 3)
        assert len(client.get(API + "/notifications").json()["notifications"]) == 3
        assert [b["event_action"] for _, b in rx.bodies] == ["trigger", "trigger", "acknowledge", "resolve"]
    finally:
        rx.close()


def test_replaying_a_dead_trigger_after_its_incident_resolved_sends_nothing_stale(client) -> None:  # noqa: ANN001
    """The trigger died while PagerDuty was unreachable; it came back and got the acknowledge and the
    resolve. Replaying the dead trigger now would page for an incident already resolved: it is superseded."""
    _fast(client)
    rx = Receiver(free_port(), status=202, first=(503, 503, 503))  # the trigger's three attempts fail
    try:
        inc = _page_through(client, rx)
        [dead] = wait(lambda: client.get(API + "/notifications", params={"state": "dead"}).json()["notifications"])
        client.post(f"{API}/incidents/{inc['id']}/resolve", json={"actor": "ann", "text": "failed over"})
        wait(lambda: client.get(API + "/notifications", params={"state": "delivered"}).json()["notifications"])
        assert [b["event_action"] for _, b in rx.bodies] == ["trigger"] * 3 + ["resolve"]
        assert client.post(API + "/notifications/replay", json={}).json() == {"replayed": 0, "superseded": 1}
        [stale] = client.get(API + "/notifications", params={"state": "superseded"}).json()["notifications"]
        assert stale["id"] == dead["id"] and stale["event"] == "opened"
        assert client.get(API + "/notifications", params={"state": "pending,dead"}).json()["notifications"] == [], \
            "nothing left to send: the stale trigger will not page"
    finally:
        rx.close()


def test_a_pagerduty_target_needs_its_routing_key() -> None:
    with pytest.raises(InvalidInputError) as info:
        Target.from_dict({"name": "pd", "url": "https://events.pagerduty.com/v2/enqueue", "format": "pagerduty"})
    assert info.value.field == "routing_key"
    with pytest.raises(InvalidInputError):
        Target.from_dict({"name": "x", "url": "http://a", "routing_key": "k"})  # a key without the format


@pytest.mark.parametrize(("path", "doc", "unknown"), [
    ("/notifications/targets", {"name": "db-team", "url": "http://127.0.0.1:1/x", "matcher": ['service="db"']},
     "matcher"),
    ("/aiops/config/notification_targets", {"name": "t", "url": "http://127.0.0.1:1/x", "minseverity": "error"},
     "minseverity"),
    ("/aiops/config/prometheus_queries", {"name": "up", "url": "http://127.0.0.1:1", "query": "up", "interval": 5},
     "interval"),
    ("/aiops/config/metric_rules", {"name": "down", "selector": "up", "below": 1, "for": 30}, "for"),
])
def test_a_misspelt_key_in_a_document_is_refused_not_ignored(client, path, doc, unknown) -> None:  # noqa: ANN001
    """A target whose ``matchers`` is misspelt would page for every incident; a query's or rule's misspelt
    interval would silently be the default: each is a 400 naming the key, and nothing is replaced."""
    key = "notification_targets" if path.startswith("/notifications") else path.rsplit("/", 1)[1]
    before = client.get(f"{API}/aiops/config/{key}").json()
    r = client.put(API + path, json=[doc])
    assert r.status_code == 400, r.text
    assert r.json()["field"] == unknown and repr(unknown) in r.json()["message"]
    assert client.get(f"{API}/aiops/config/{key}").json() == before


def test_a_slack_footer_counts_its_signals_in_english() -> None:
    inc = {"id": 1, "title": "x", "state": "triggered", "severity": 4, "service": "db", "labels": {},
           "services": ["db"]}
    footers = [slack_body(incident_payload("opened", {**inc, "signal_count": n}, 1.0))["attachments"][0]["footer"]
               for n in (1, 3)]
    assert footers == ["opsloop · 1 signal", "opsloop · 3 signals"]


def test_a_merged_incident_resolves_its_pagerduty_alert(client) -> None:  # noqa: ANN001
    """Merging closes the source incident: its PagerDuty alert resolves (the 'merged' event), a JSON target
    is told where it went, and the target's own alert stays triggered."""
    rx = Receiver(free_port(), status=202)
    try:
        client.put(API + "/notifications/targets", json=[
            {"name": "pd", "url": f"http://127.0.0.1:{rx.port}/v2/enqueue", "format": "pagerduty",
             "routing_key": "R0UT1NG"},
            {"name": "hook", "url": f"http://127.0.0.1:{rx.port}/hook", "events": ["merged"]}])
        client.post(AM, json=am_payload([alert("Down", "db", severity="critical")]))
        client.post(AM, json=am_payload([alert("Errors", "web", severity="critical", start=time.time() + 3000)]))
        target, source = sorted(i["id"] for i in incidents(client))
        wait(lambda: len(rx.bodies) >= 2)
        r = client.post(f"{API}/incidents/merge", json={"target_id": target, "source_ids": [source], "actor": "ann"})
        assert r.status_code == 200, r.text
        wait(lambda: len(client.get(API + "/notifications", params={"state": "delivered"}).json()["notifications"]) == 4)
        pd = [(b["dedup_key"], b["event_action"]) for p, b in rx.bodies if p == "/v2/enqueue"]
        assert pd[2:] == [(f"opsloop-incident-{source}", "resolve")]
        [(_, merged)] = [(p, b) for p, b in rx.bodies if p == "/hook"]
        assert merged["event"] == "merged" and merged["incident"]["id"] == source
        assert merged["incident"]["state"] == "resolved" and merged["incident"]["merged_into"] == target
    finally:
        rx.close()


def _two_alert_incident(client, rx: Receiver) -> tuple[int, float]:  # noqa: ANN001
    """A PagerDuty target at ``rx`` and an incident of two db alerts (its id, and their start)."""
    client.put(API + "/notifications/targets", json=[
        {"name": "pd", "url": f"http://127.0.0.1:{rx.port}/v2/enqueue", "format": "pagerduty", "routing_key": "K"}])
    t0 = time.time() - 60
    client.post(AM, json=am_payload([alert("Down", "db", start=t0), alert("Errors", "db", start=t0 + 1)]))
    [inc] = incidents(client)
    return inc["id"], t0


def _pd_events(client, rx: Receiver, count: int) -> list[tuple[str, str]]:  # noqa: ANN001
    wait(lambda: len(client.get(API + "/notifications", params={"state": "delivered"}).json()["notifications"])
         == count)
    return [(b["dedup_key"].rsplit("-", 1)[1], b["event_action"]) for _, b in rx.bodies]


def test_splitting_a_resolved_incident_never_triggers_after_the_resolve(client) -> None:  # noqa: ANN001
    """The incident split out of a resolved one is born resolved: PagerDuty gets its trigger before its
    resolve, never a trigger last (a page open for an incident already resolved)."""
    rx = Receiver(free_port(), status=202)
    try:
        inc, t0 = _two_alert_incident(client, rx)
        client.post(AM, json=am_payload([alert("Down", "db", status="resolved", start=t0, end=t0 + 5),
                                         alert("Errors", "db", status="resolved", start=t0 + 1, end=t0 + 6)]))
        signal_id = client.get(f"{API}/incidents/{inc}").json()["signals"][0]["id"]
        new = client.post(f"{API}/incidents/{inc}/split", json={"signal_ids": [signal_id]}).json()
        assert new["state"] == "resolved"
        events = _pd_events(client, rx, 4)
        assert [a for i, a in events if i == str(new["id"])] == ["trigger", "resolve"]
    finally:
        rx.close()


def test_splitting_out_the_last_firing_alerts_resolves_what_is_left(client) -> None:  # noqa: ANN001
    """Every alert left in an incident after a split has resolved: it resolves (as it would have had they
    resolved there) and its PagerDuty alert with it, while the split-out incident pages on its own."""
    rx = Receiver(free_port(), status=202)
    try:
        inc, t0 = _two_alert_incident(client, rx)
        client.post(AM, json=am_payload([alert("Down", "db", status="resolved", start=t0, end=t0 + 5)]))
        firing = [s["id"] for s in client.get(f"{API}/incidents/{inc}").json()["signals"] if s["status"] == "firing"]
        new = client.post(f"{API}/incidents/{inc}/split", json={"signal_ids": firing, "actor": "ann"}).json()
        left = client.get(f"{API}/incidents/{inc}").json()
        assert left["state"] == "resolved" and new["state"] == "triggered"
        assert left["timeline"][-1]["kind"] == "split" and "every signal resolved" in left["timeline"][-2]["text"]
        events = _pd_events(client, rx, 3)
        assert [a for i, a in events if i == str(inc)] == ["trigger", "resolve"]
        assert [a for i, a in events if i == str(new["id"])] == ["trigger"]
    finally:
        rx.close()


def test_a_split_leaves_an_incident_reopened_by_hand_as_it_is(client) -> None:  # noqa: ANN001
    """An operator reopened an incident whose alerts had all resolved; splitting one of them out does not
    resolve it behind the operator's back (the split took no firing alert from it)."""
    rx = Receiver(free_port(), status=202)
    try:
        inc, t0 = _two_alert_incident(client, rx)
        client.post(AM, json=am_payload([alert("Down", "db", status="resolved", start=t0, end=t0 + 5),
                                         alert("Errors", "db", status="resolved", start=t0 + 1, end=t0 + 6)]))
        client.post(f"{API}/incidents/{inc}/reopen", json={"actor": "ann"})
        signal_id = client.get(f"{API}/incidents/{inc}").json()["signals"][0]["id"]
        assert client.post(f"{API}/incidents/{inc}/split", json={"signal_ids": [signal_id]}).status_code == 200
        assert client.get(f"{API}/incidents/{inc}").json()["state"] == "triggered"
    finally:
        rx.close()


def test_a_delivery_under_way_when_the_server_stops_is_not_sent_again(tmp_path) -> None:  # noqa: ANN001
    """The server is stopped while a slow receiver is taking a notification: the stop waits for its answer
    and records the delivery, so the restarted server does not send it a second time."""
    from tests.aiops.ingestion._helpers import aiops_client

    rx = Receiver(free_port(), delay_s=1.0)
    try:
        with aiops_client(tmp_path) as c:
            c.app.state.aiops.dispatcher.timeout_s = 2.0  # a delivery's claim lasts 4 timeouts: 8 s
            c.put(API + "/notifications/targets", json=[{"name": "oncall", "url": f"http://127.0.0.1:{rx.port}/"}])
            c.post(AM, json=am_payload([alert("Down", "db")]))
            wait(lambda: rx.bodies)  # the receiver has it and is still answering: the server stops now
        with aiops_client(tmp_path) as c:
            [row] = c.get(API + "/notifications").json()["notifications"]
            assert row["state"] == "delivered"
        assert len(rx.bodies) == 1
    finally:
        rx.close()


class Redirector:
    """An endpoint that moved: every POST is answered with ``status`` and a Location at ``to``."""

    def __init__(self, port: int, to: str) -> None:
        self.port, self.hits = port, []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                self.rfile.read(int(self.headers["content-length"]))
                outer.hits.append(self.path)
                self.send_response(int(self.path.strip("/")))
                self.send_header("Location", to + self.path)
                self.end_headers()

            def log_message(self, *args) -> None:  # noqa: ANN002
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_a_webhook_that_moved_is_followed_when_the_post_can_be(client) -> None:  # noqa: ANN001
    """A 307 or 308 says to POST the same body to the new place: the notification is delivered there. A
    301, 302 or 303 would turn the POST into a GET without the body: it is not followed, and the error
    says where the webhook went, so its URL can be set there."""
    _fast(client)
    rx = Receiver(free_port())
    moved = Redirector(free_port(), f"http://127.0.0.1:{rx.port}/moved")
    try:
        client.put(API + "/notifications/targets", json=[
            {"name": f"r{code}", "url": f"http://127.0.0.1:{moved.port}/{code}", "headers": {"X-Token": "s3cret"}}
            for code in (301, 307, 308)])
        client.post(AM, json=am_payload([alert("Down", "db")]))
        rows = wait(lambda: (lambda r: r if all(n["state"] != "pending" for n in r) else None)(
            client.get(API + "/notifications").json()["notifications"]))
        state = {n["target"]: (n["state"], n["last_error"]) for n in rows}
        assert state["r307"] == ("delivered", "") and state["r308"] == ("delivered", "")
        assert sorted(p for p, _ in rx.bodies) == ["/moved/307", "/moved/308"]
        assert all(b["event"] == "opened" for _, b in rx.bodies)
        assert all(h["x-token"] == "s3cret" for h in rx.headers)  # the same host: the target's headers go along
        assert state["r301"][0] == "dead" and f"http://127.0.0.1:{rx.port}/moved/301" in state["r301"][1]
    finally:
        moved.close()
        rx.close()


def test_a_webhook_moved_to_another_host_gets_the_post_without_the_targets_secret_headers(client) -> None:  # noqa: ANN001
    rx = Receiver(free_port())
    moved = Redirector(free_port(), f"http://localhost:{rx.port}/moved")
    try:
        client.put(API + "/notifications/targets", json=[
            {"name": "hook", "url": f"http://127.0.0.1:{moved.port}/307", "headers": {"X-Token": "s3cret"}}])
        client.post(AM, json=am_payload([alert("Down", "db")]))
        wait(lambda: client.get(API + "/notifications", params={"state": "delivered"}).json()["notifications"])
        [(path, _)] = rx.bodies
        assert path == "/moved/307" and "x-token" not in rx.headers[0]
    finally:
        moved.close()
        rx.close()


def test_an_incident_that_becomes_critical_pages_the_critical_target(client) -> None:  # noqa: ANN001
    """A PagerDuty target for critical incidents only: an incident that opened with a warning and then
    took a critical alert pages it then (it got only the resolve, for an alert it never triggered)."""
    rx = Receiver(free_port(), status=202)
    try:
        client.put(API + "/notifications/targets", json=[
            {"name": "pd", "url": f"http://127.0.0.1:{rx.port}/v2/enqueue", "format": "pagerduty", "routing_key": "K",
             "min_severity": "critical"}])
        t0 = time.time() - 30
        client.post(AM, json=am_payload([alert("SlowQueries", "db", severity="warning", start=t0)]))
        [inc] = incidents(client)
        client.post(AM, json=am_payload([alert("Down", "db", severity="critical", start=t0 + 10)]))
        assert incidents(client)[0]["severity"] == "critical" and len(incidents(client)) == 1
        client.post(f"{API}/incidents/{inc['id']}/resolve", json={"actor": "ann"})
        assert _pd_events(client, rx, 2) == [(str(inc["id"]), "trigger"), (str(inc["id"]), "resolve")]
    finally:
        rx.close()


def test_a_target_told_of_an_incident_hears_its_end_after_its_labels_change(client) -> None:  # noqa: ANN001
    """The db team's target got the incident's trigger while its alerts all said team=db; an alert of
    another team joined it (so team is no longer a label they share): the db team still gets the resolve."""
    rx = Receiver(free_port(), status=202)
    try:
        client.put(API + "/notifications/targets", json=[
            {"name": "pd", "url": f"http://127.0.0.1:{rx.port}/v2/enqueue", "format": "pagerduty", "routing_key": "K",
             "matchers": ['team="db"']}])
        t0 = time.time() - 30
        client.post(AM, json=am_payload([alert("Down", "db", start=t0, team="db")]))
        [inc] = incidents(client)
        client.post(AM, json=am_payload([alert("Errors", "db", start=t0 + 5, team="web")]))
        assert "team" not in incidents(client)[0]["labels"] and len(incidents(client)) == 1
        client.post(f"{API}/incidents/{inc['id']}/resolve", json={"actor": "ann"})
        assert _pd_events(client, rx, 2) == [(str(inc["id"]), "trigger"), (str(inc["id"]), "resolve")]
    finally:
        rx.close()


def test_merging_a_critical_incident_into_a_warning_one_pages_the_critical_target(client) -> None:  # noqa: ANN001
    rx = Receiver(free_port(), status=202)
    try:
        client.put(API + "/notifications/targets", json=[
            {"name": "pd", "url": f"http://127.0.0.1:{rx.port}/v2/enqueue", "format": "pagerduty", "routing_key": "K",
             "min_severity": "critical"}])
        client.post(AM, json=am_payload([alert("SlowQueries", "db", severity="warning")]))
        client.post(AM, json=am_payload([alert("Down", "web", severity="critical", start=time.time() + 3000)]))
        by = {i["service"]: i["id"] for i in incidents(client)}
        r = client.post(f"{API}/incidents/merge", json={"target_id": by["db"], "source_ids": [by["web"]]})
        assert r.json()["severity"] == "critical"
        events = _pd_events(client, rx, 3)
        assert [a for i, a in events if i == str(by["web"])] == ["trigger", "resolve"]
        assert [a for i, a in events if i == str(by["db"])] == ["trigger"]
    finally:
        rx.close()


def test_a_slack_message_escapes_slacks_control_characters() -> None:
    """Slack reads ``<…>`` as a link or a mention (``<!channel>`` notifies everyone in the channel) and ``&``
    as the start of an escape: an alert text holding them is sent escaped, as Slack asks, so it reads as it
    was written and pings nobody."""
    inc = {"id": 7, "title": "<!channel> p99 > 500ms & rising", "state": "triggered", "severity": 4,
           "service": "a<b", "labels": {}, "services": ["a<b", "c&d"], "assignee": "<@U123>", "signal_count": 1}
    body = slack_body(incident_payload("opened", inc, 1.0))
    texts = [body["text"], body["attachments"][0]["title"], *(f["value"] for f in body["attachments"][0]["fields"])]
    assert body["text"] == "[OPENED] Incident #7: &lt;!channel&gt; p99 &gt; 500ms &amp; rising"
    assert not any("<" in t or ">" in t for t in texts)
    assert "a&lt;b, c&amp;d" in texts and "&lt;@U123&gt;" in texts


def test_a_notification_the_target_refuses_is_a_dead_letter_at_once(client) -> None:  # noqa: ANN001
    """A 4xx says the request itself is wrong (PagerDuty's 400 for an invalid event, Slack's 404 for a
    removed webhook): sending it again cannot help, and Alertmanager does not. It is a dead letter after
    its first attempt, and the incident's later events to that target no longer wait behind its retries."""
    d = client.app.state.aiops.dispatcher
    d.base_delay_s, d.max_delay_s = 60.0, 60.0  # a retry would come in a minute
    rx = Receiver(free_port(), status=202, first=(400,))
    try:
        inc = _page_through(client, rx)
        [dead] = wait(lambda: client.get(API + "/notifications", params={"state": "dead"}).json()["notifications"])
        assert dead["attempts"] == 1 and dead["last_error"].startswith("HTTP 400")
        client.post(f"{API}/incidents/{inc['id']}/ack", json={"actor": "ann"})
        wait(lambda: client.get(API + "/notifications", params={"state": "delivered"}).json()["notifications"])
        assert [b["event_action"] for _, b in rx.bodies] == ["trigger", "acknowledge"]
    finally:
        rx.close()


def test_a_target_asking_to_slow_down_is_retried(client) -> None:  # noqa: ANN001
    """429 Too Many Requests and 408 Request Timeout are worth another try, like a 5xx."""
    _fast(client)
    rx = Receiver(free_port(), status=202, first=(429, 408))
    try:
        _page_through(client, rx)
        [row] = wait(lambda: client.get(API + "/notifications", params={"state": "delivered"}).json()["notifications"])
        assert row["attempts"] == 3 and len(rx.bodies) == 3
    finally:
        rx.close()


def test_replaying_an_empty_list_of_dead_letters_replays_none(client) -> None:  # noqa: ANN001
    """``{"ids": []}`` (a list with nothing ticked) replays nothing; ``{}`` replays them all."""
    _fast(client)
    client.put(API + "/notifications/targets", json=[{"name": "oncall", "url": f"http://127.0.0.1:{free_port()}/"}])
    client.post(AM, json=am_payload([alert("Down", "db")]))
    wait(lambda: client.get(API + "/notifications", params={"state": "dead"}).json()["notifications"])
    assert client.post(API + "/notifications/replay", json={"ids": []}).json() == {"replayed": 0, "superseded": 0}
    assert len(client.get(API + "/notifications", params={"state": "dead"}).json()["notifications"]) == 1


@pytest.mark.parametrize("path", ["/notifications/targets", "/aiops/config/notification_targets"])
def test_a_misspelt_min_severity_is_refused_not_read_as_warning(client, path) -> None:  # noqa: ANN001
    """``critcal`` was read as a warning: the PagerDuty target meant for critical incidents paged for every
    warning. It is a 400 naming ``min_severity``, and the targets stay as they were."""
    client.put(API + "/notifications/targets", json=[{"name": "pd", "url": "http://127.0.0.1:1/", "min_severity": "crit"}])
    r = client.put(API + path, json=[{"name": "pd", "url": "http://127.0.0.1:1/", "min_severity": "critcal"}])
    assert r.status_code == 400, r.text
    assert r.json()["field"] == "min_severity" and "'critcal'" in r.json()["message"]
    assert client.get(API + "/notifications/targets").json()["targets"][0]["min_severity"] == "critical"


class Blackhole:
    """A webhook host that takes connections and never answers (a firewall dropping its replies); counts them."""

    def __init__(self) -> None:
        import socket

        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port, self.accepted, self.conns = self.sock.getsockname()[1], 0, []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            self.conns.append(conn)

    def close(self) -> None:
        self.sock.close()
        for c in self.conns:
            c.close()


def test_a_target_that_never_answers_does_not_hold_up_the_others(client) -> None:  # noqa: ANN001
    """Slack's webhook times out while PagerDuty is fine: PagerDuty gets every page without waiting for a
    timeout per Slack message (they were sent one after another), and the Slack messages of the other
    incidents wait for its retry instead of each timing out in turn."""
    d = client.app.state.aiops.dispatcher
    d.timeout_s, d.base_delay_s, d.max_delay_s = 1.0, 30.0, 30.0
    hole, rx = Blackhole(), Receiver(free_port(), status=202)
    try:
        client.put(API + "/notifications/targets", json=[
            {"name": "slack", "url": f"http://127.0.0.1:{hole.port}/hook", "format": "slack"},
            {"name": "pd", "url": f"http://127.0.0.1:{rx.port}/v2/enqueue", "format": "pagerduty", "routing_key": "K"}])
        t0 = time.time() - 3000
        client.post(AM, json=am_payload([alert(f"Down{n}", f"svc{n}", start=t0 + 600 * n) for n in range(4)]))
        assert len(incidents(client)) == 4
        wait(lambda: len(rx.bodies) == 4)
        slack = wait(lambda: (lambda rows: rows if any(n["attempts"] for n in rows) else None)(
            client.get(API + "/notifications", params={"state": "pending"}).json()["notifications"]))
        assert hole.accepted == 1, "each Slack message waited for its own timeout"
        assert len(slack) == 4 and sorted(n["attempts"] for n in slack) == [0, 0, 0, 1]
    finally:
        hole.close()
        rx.close()


def test_a_target_told_of_an_incident_before_a_restart_hears_its_end_after_it(tmp_path) -> None:  # noqa: ANN001
    from tests.aiops.ingestion._helpers import aiops_client

    rx = Receiver(free_port(), status=202)
    try:
        t0 = time.time() - 30
        with aiops_client(tmp_path) as c:
            c.put(API + "/notifications/targets", json=[
                {"name": "pd", "url": f"http://127.0.0.1:{rx.port}/v2/enqueue", "format": "pagerduty",
                 "routing_key": "K", "matchers": ['team="db"']}])
            c.post(AM, json=am_payload([alert("Down", "db", start=t0, team="db")]))
            [inc] = incidents(c)
            _pd_events(c, rx, 1)
        with aiops_client(tmp_path) as c:
            c.post(AM, json=am_payload([alert("Errors", "db", start=t0 + 5, team="web")]))
            c.post(f"{API}/incidents/{inc['id']}/resolve", json={"actor": "ann"})
            assert _pd_events(c, rx, 2) == [(str(inc["id"]), "trigger"), (str(inc["id"]), "resolve")]
    finally:
        rx.close()


def test_a_target_with_an_empty_list_of_events_is_refused_not_sent_every_event(client) -> None:  # noqa: ANN001
    """``"events": []`` read as every event: a target meant to hear nothing (for now) paged for everything.
    It is a 400 naming ``events`` (leave the key out for every event)."""
    r = client.put(API + "/notifications/targets", json=[{"name": "pd", "url": "http://127.0.0.1:1/", "events": []}])
    assert r.status_code == 400 and r.json()["field"] == "events", r.text
    assert client.get(API + "/notifications/targets").json()["targets"] == []


def test_a_slack_message_of_a_merge_says_where_the_incident_went() -> None:
    inc = {"id": 7, "title": "Errors on web", "state": "resolved", "severity": 3, "service": "web", "labels": {},
           "services": ["web"], "signal_count": 2, "merged_into": 3}
    body = slack_body(incident_payload("merged", inc, 1.0))
    assert body["text"] == "[MERGED] Incident #7: Errors on web → merged into #3"
    assert {"title": "Merged into", "value": "#3", "short": True} in body["attachments"][0]["fields"]
