"""An alert inhibited with no incident of its own is judged again when it is sent while its cause no longer
fires, as Alertmanager notifies an inhibited alert once its source resolves: it opens (or joins) an
incident instead of staying muted for ever."""

from __future__ import annotations

import time

from tests.aiops.ingestion._helpers import API, alert, am_payload, incidents, signals

AM = API + "/ingest/alertmanager"


def test_an_alert_inhibited_by_a_cause_that_resolved_opens_an_incident_when_sent_again(client) -> None:  # noqa: ANN001
    r = client.put(API + "/inhibit-rules", json=[{"source_matchers": ['alertname="ClusterDown"'],
                                                  "target_matchers": ['severity="warning"'], "equal": ["cluster"]}])
    assert r.status_code == 200, r.text
    t = time.time()
    root = alert("ClusterDown", "k8s", start=t - 1000, cluster="c1")
    client.post(AM, json=am_payload([root]))
    slow = alert("SlowQueries", "db", start=t - 500, severity="warning", cluster="c1")  # long after: no grouping
    out = client.post(AM, json=am_payload([slow])).json()
    assert out["suppressed"] == 1 and not out["incidents_opened"] and not out["incidents_updated"], out
    assert client.post(AM, json=am_payload([slow])).json()["incidents_opened"] == []  # its cause still fires
    client.post(AM, json=am_payload([alert("ClusterDown", "k8s", start=t - 1000, cluster="c1", status="resolved",
                                           end=t - 10)]))
    out = client.post(AM, json=am_payload([slow])).json()
    assert len(out["incidents_opened"]) == 1, out
    row = next(s for s in signals(client) if s["labels"]["alertname"] == "SlowQueries")
    assert row["suppressed"] == "" and row["incident_id"] == out["incidents_opened"][0] and row["count"] == 3
    assert sorted(i["title"].split(" ")[0] for i in incidents(client)) == ["ClusterDown", "SlowQueries"]
