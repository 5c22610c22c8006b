"""Inhibit rules take Alertmanager's older ``source_match``/``target_match`` (label to value) and
``source_match_re``/``target_match_re`` (label to regex) maps, which Alertmanager still takes and many
alertmanager.yml files still use: they were a 400 ("unknown key 'source_match'")."""

from __future__ import annotations

import time

from tests.aiops.ingestion._helpers import API, alert, am_payload, signals

AM = API + "/ingest/alertmanager"


def test_inhibit_rules_take_alertmanagers_match_maps(client) -> None:  # noqa: ANN001
    rules = [{"source_match": {"alertname": "ClusterDown"}, "target_match_re": {"severity": "warn.*|info"},
              "target_match": {"team": "db"}, "equal": ["cluster"]}]
    r = client.put(API + "/inhibit-rules", json=rules)
    assert r.status_code == 200, r.text
    assert sorted(r.json()["rules"][0]["target_matchers"]) == ['severity=~"warn.*|info"', 'team="db"']
    t = time.time()
    client.post(AM, json=am_payload([alert("ClusterDown", "k8s", start=t - 1000, cluster="c1")]))
    client.post(AM, json=am_payload([
        alert("SlowQueries", "db", start=t - 500, severity="warning", cluster="c1", team="db"),
        alert("Chatty", "db", start=t - 500, severity="info", cluster="c1", team="db"),
        alert("OtherTeam", "web", start=t - 500, severity="warning", cluster="c1", team="web"),
        alert("OtherCluster", "db", start=t - 500, severity="warning", cluster="c2", team="db"),
    ]))
    muted = {s["labels"]["alertname"]: s["suppressed"].startswith("inhibited") for s in signals(client)}
    assert muted == {"ClusterDown": False, "SlowQueries": True, "Chatty": True, "OtherTeam": False,
                     "OtherCluster": False}
    r = client.put(API + "/inhibit-rules", json=[{"source_match": {"alertname": 1}, "target_match": {"a": "b"}}])
    assert r.status_code == 400 and "source_match" in r.text, r.text
