"""List filters name what they filter on: a value that is none of the allowed ones (a typo) is a 400 naming
the parameter, not a silently empty (or unfiltered) list; several values are comma-separated."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from tests.aiops.ingestion._helpers import API, aiops_client, alert, am_payload


@pytest.mark.parametrize(("path", "param", "bad", "good"), [
    ("/incidents", "state", "triggerd", "triggered,acknowledged"),
    ("/incidents", "severity", "critcal", "critical,warn"),
    ("/signals", "kind", "alerts", "alert,metric"),
    ("/signals", "status", "open", "firing,resolved"),
    ("/runbooks/runs", "state", "done", "failed,gate_failed"),
    ("/notifications", "state", "sent", "pending,dead"),
])
def test_unknown_filter_values_are_refused_and_lists_of_known_ones_work(tmp_path: Path, path: str, param: str,
                                                                        bad: str, good: str) -> None:
    with aiops_client(tmp_path) as client:
        assert client.post(API + "/ingest/alertmanager", json=am_payload([alert("Down", "db")])).status_code == 200
        r = client.get(API + path, params={param: bad})
        assert r.status_code == 400, r.text
        assert r.json()["field"] == param and repr(bad) in r.json()["message"]
        assert client.get(API + path, params={param: good}).status_code == 200


def test_several_kinds_and_severities_select_their_union(tmp_path: Path) -> None:
    with aiops_client(tmp_path) as client:
        # minutes apart: three incidents (no topology, so alerts close in time would be one)
        t = time.time()
        alerts = [alert("Down", "db", severity="critical", start=t - 1200),
                  alert("Slow", "api", severity="warning", start=t - 600)]
        assert client.post(API + "/ingest/alertmanager", json=am_payload(alerts)).status_code == 200
        assert client.post(API + "/events", json={"kind": "model_drift", "service": "m", "text": "drift"}
                           ).status_code == 200
        kinds = {s["kind"] for s in client.get(API + "/signals", params={"kind": "alert,model_drift"}).json()["signals"]}
        assert kinds == {"alert", "model_drift"}
        listed = client.get(API + "/incidents", params={"severity": "critical"}).json()["incidents"]
        assert [i["service"] for i in listed] == ["db"]
        both = client.get(API + "/incidents", params={"severity": "critical,warning"}).json()["incidents"]
        assert {i["service"] for i in both} == {"db", "api", "m"}


def test_text_search_finds_words_beyond_ascii(tmp_path: Path) -> None:
    """`q` found "paiement" but not "Échec" in "Échec du paiement": the words were lowered by Python and
    the titles by SQLite, which lowers ASCII letters only."""
    with aiops_client(tmp_path) as client:
        body = {"kind": "alert", "service": "paiement", "labels": {"équipe": "Caisse"}, "text": "Échec du paiement"}
        assert client.post(API + "/events", json=body).status_code == 200
        for q in ("Échec", "ÉCHEC DU", "paiement", "PAIEMENT", "Caisse", "caisse"):
            found = client.get(API + "/incidents", params={"q": q}).json()["incidents"]
            assert [i["title"] for i in found] == ["Échec du paiement [paiement]"], q
        assert client.get(API + "/incidents", params={"q": "échec%"}).json()["incidents"] == []


def test_the_audit_trail_and_the_outbox_page_past_their_limit(tmp_path: Path) -> None:
    """`/audit` and `/notifications` had a limit but no offset: nothing past the newest 1,000 rows could be read."""
    with aiops_client(tmp_path) as client:
        target = [{"name": "down", "url": "http://127.0.0.1:9/hook", "format": "json"}]
        assert client.put(API + "/notifications/targets", json=target).status_code == 200
        for i in range(5):
            assert client.post(API + "/silences", json={"matchers": f'service="s{i}"', "duration_s": 60}).status_code == 200
        t = time.time()
        alerts = [alert("Down", f"svc{i}", start=t - 3000 + 600 * i) for i in range(4)]
        assert client.post(API + "/ingest/alertmanager", json=am_payload(alerts)).status_code == 200
        # rows by what stays put while the outbox retries (an audit row, a notification's id)
        for path, key, ident in (("/audit", "audit", lambda r: (r["time"], r["action"], r["entity_id"])),
                                 ("/notifications", "notifications", lambda r: r["id"])):
            whole = [ident(r) for r in client.get(API + path).json()[key]]
            assert len(whole) >= 4, path
            pages = [client.get(API + path, params={"limit": 2, "offset": o}).json()[key] for o in range(0, len(whole), 2)]
            assert [ident(row) for page in pages for row in page] == whole, path
            assert client.get(API + path, params={"offset": -1}).status_code in (400, 422)
        assert client.get(API + "/runbooks/runs", params={"offset": 3}).json()["runs"] == []
