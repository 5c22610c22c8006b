"""An inhibition rule added (or the rules replaced) during an outage applies to the alerts already firing,
as Alertmanager's rules do: the source alert that fires since before the rule mutes the targets after it.
Replacing the rules (the same rule renamed) forgot every source firing until it fired anew."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from tests.aiops.ingestion._helpers import API, aiops_client, alert, am_payload

AM = API + "/ingest/alertmanager"
RULE = {"source_matchers": ['alertname="ClusterDown"'], "target_matchers": ['severity="warning"'],
        "equal": ["cluster"]}


def test_a_rule_put_while_its_source_fires_mutes_the_targets_after_it(client) -> None:  # noqa: ANN001
    t = time.time()
    client.post(AM, json=am_payload([alert("ClusterDown", "k8s", start=t - 1000, cluster="c1")]))
    assert client.put(API + "/inhibit-rules", json=[RULE]).status_code == 200
    slow = alert("SlowQueries", "db", start=t - 500, severity="warning", cluster="c1")  # long after: no grouping
    out = client.post(AM, json=am_payload([slow])).json()
    assert out["suppressed"] == 1 and out["incidents_opened"] == [], out
    other = alert("SlowQueries", "db2", start=t - 400, severity="warning", cluster="c2")  # another cluster
    assert len(client.post(AM, json=am_payload([other])).json()["incidents_opened"]) == 1


def test_rules_replaced_keep_muting_by_the_sources_firing(tmp_path: Path) -> None:
    t = time.time()
    with aiops_client(tmp_path) as c:
        c.put(API + "/inhibit-rules", json=[RULE])
        c.post(AM, json=am_payload([alert("ClusterDown", "k8s", start=t - 1000, cluster="c1")]))
        c.put(API + "/inhibit-rules", json=[{**RULE, "name": "cluster"}])  # the same rule, renamed
        out = c.post(AM, json=am_payload([alert("SlowQueries", "db", start=t - 500, severity="warning",
                                                cluster="c1")])).json()
        assert out["suppressed"] == 1, out


@pytest.mark.parametrize("path", ["/inhibit-rules", "/aiops/config/inhibit_rules"])
def test_a_misspelt_key_in_an_inhibit_rule_is_refused_not_ignored(client, path) -> None:  # noqa: ANN001
    """``equals`` for ``equal``: ignored, the rule would mute the warnings of every cluster while one
    cluster is down. It is a 400 naming the key, and the rules stay as they were."""
    client.put(API + "/inhibit-rules", json=[RULE])
    r = client.put(API + path, json=[{"source_matchers": RULE["source_matchers"],
                                      "target_matchers": RULE["target_matchers"], "equals": ["cluster"]}])
    assert r.status_code == 400, r.text
    assert r.json()["field"] == "equals" and "'equals'" in r.json()["message"]
    assert client.get(API + "/inhibit-rules").json()["rules"][0]["equal"] == ["cluster"]
