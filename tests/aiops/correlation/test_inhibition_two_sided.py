"""An alert that matches both the source and the target matchers of an inhibit rule is not inhibited by
another such alert, as in Alertmanager (``inhibit.go``: a two-sided match excludes sources that are also
targets): with ``severity="critical"`` as source and ``service="db"`` as target, two critical alerts of
the db both stay active while a warning of the db is inhibited."""

from __future__ import annotations

import time

from tests.aiops.ingestion._helpers import API, alert, am_payload, signals

AM = API + "/ingest/alertmanager"


def test_two_alerts_matching_both_sides_of_a_rule_do_not_inhibit_each_other(client) -> None:  # noqa: ANN001
    r = client.put(API + "/inhibit-rules", json=[{"source_matchers": ['severity="critical"'],
                                                  "target_matchers": ['service="db"'], "equal": ["cluster"]}])
    assert r.status_code == 200, r.text
    t = time.time()
    client.post(AM, json=am_payload([alert("DBDown", "db", start=t - 60, severity="critical", cluster="c1")]))
    r = client.post(AM, json=am_payload([
        alert("DBReplicaDown", "db", start=t - 50, severity="critical", cluster="c1"),
        alert("SlowQueries", "db", start=t - 40, severity="warning", cluster="c1"),
        alert("DBDiskFull", "db", start=t - 40, severity="critical", cluster="c2"),
    ]))
    assert r.status_code == 200, r.text
    inhibited = {s["labels"]["alertname"]: (s["suppressed"] or any(
        "inhibited" in r for r in (s.get("grouping") or {}).get("reasons", []))) for s in signals(client)}
    assert inhibited == {"DBDown": False, "DBReplicaDown": False, "SlowQueries": True, "DBDiskFull": False}
    active = client.get("/api/v2/alerts", params={"inhibited": "false", "silenced": "false"}).json()
    assert sorted(a["labels"]["alertname"] for a in active) == ["DBDiskFull", "DBDown", "DBReplicaDown"]
