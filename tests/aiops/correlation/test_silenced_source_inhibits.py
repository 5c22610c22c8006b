"""A silenced alert still inhibits what an inhibit rule says it explains, as in Alertmanager (its inhibitor
reads every firing alert, muted or not): silencing a known root cause during maintenance must not let its
dependents page. Also after a restart, and for an alert itself inhibited."""

from __future__ import annotations

import time
from pathlib import Path

from tests.aiops.ingestion._helpers import API, aiops_client, alert, am_payload, signals

AM = API + "/ingest/alertmanager"
RULE = [{"source_matchers": ['alertname="NodeDown"'], "target_matchers": ['alertname="PodUnreachable"'],
         "equal": ["node"]}]


def _muted(client) -> dict[str, str]:  # noqa: ANN001
    return {s["labels"]["alertname"]: s["suppressed"] for s in signals(client)}


def test_a_silenced_source_inhibits_its_targets(tmp_path: Path) -> None:
    with aiops_client(tmp_path) as client:
        assert client.put(API + "/inhibit-rules", json=RULE).status_code == 200
        assert client.post(API + "/silences", json={"matchers": ['alertname="NodeDown"'],
                                                     "duration_s": 3600}).status_code in (200, 201)
        t = time.time()
        client.post(AM, json=am_payload([alert("NodeDown", "infra", start=t - 60, node="n1")]))
        client.post(AM, json=am_payload([alert("PodUnreachable", "api", start=t - 30, node="n1")]))
        muted = _muted(client)
        assert muted["NodeDown"].startswith("silence:")
        assert muted["PodUnreachable"].startswith("inhibited"), muted


def test_silenced_and_inhibited_sources_still_inhibit_after_a_restart(tmp_path: Path) -> None:
    rule = [*RULE, {"source_matchers": ['alertname="PodUnreachable"'], "target_matchers": ['alertname="SlowApi"'],
                    "equal": ["node"]}]
    t = time.time()
    with aiops_client(tmp_path) as client:
        assert client.put(API + "/inhibit-rules", json=rule).status_code == 200
        assert client.post(API + "/silences", json={"matchers": ['alertname="NodeDown"'],
                                                     "duration_s": 3600}).status_code in (200, 201)
        client.post(AM, json=am_payload([alert("NodeDown", "infra", start=t - 60, node="n1")]))
        client.post(AM, json=am_payload([alert("PodUnreachable", "api", start=t - 50, node="n1")]))
    with aiops_client(tmp_path) as client:  # restarted: the sources come back from the store
        client.post(AM, json=am_payload([alert("PodUnreachable", "web", start=t - 20, node="n1"),
                                         alert("SlowApi", "web", start=t - 10, node="n1")]))
        rows = [(s["labels"]["alertname"], s["service"], s["suppressed"]) for s in signals(client)]
        assert ("PodUnreachable", "web", "inhibited by rule 0") in rows, rows
        assert [r for r in rows if r[0] == "SlowApi"][0][2].startswith("inhibited"), rows
