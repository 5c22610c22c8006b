"""Every pipeline document names its items once: a second threshold rule or Prometheus query of the same
name is refused like a second watch rule, target or runbook (its state is kept by name, so the two would
share it: one query's pulls were skipped, two rules' alerts were one)."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.aiops.ingestion._helpers import API, aiops_client

RULE = {"selector": "up", "below": 1, "for_s": 0, "severity": "error", "text": "down"}
QUERY = {"url": "http://127.0.0.1:9", "query": "up"}
TARGET = {"url": "http://127.0.0.1:9/hook"}
RUNBOOK = {"trigger": {"matchers": ['service="api"']}, "action": {"type": "command", "argv": ["true"]}}


@pytest.mark.parametrize(("key", "item", "what"), [("metric_rules", RULE, "rule"), ("prometheus_queries", QUERY, "rule"),
                                                   ("notification_targets", TARGET, "target"),
                                                   ("runbooks", RUNBOOK, "runbook")])
def test_a_name_given_twice_is_refused(tmp_path: Path, key: str, item: dict, what: str) -> None:
    with aiops_client(tmp_path) as c:
        doc = [{"name": "a", **item}, {"name": "b", **item}, {"name": "a", **item}]
        r = c.put(f"{API}/aiops/config/{key}", json=doc)
        assert r.status_code == 400 and r.json()["field"] == "name", r.text
        assert r.json()["message"] == f"{key}[2]: a {what} named 'a' comes before it"
        assert c.get(f"{API}/aiops/config/{key}").json()[key] == []
        assert c.put(f"{API}/aiops/config/{key}", json=doc[:2]).status_code == 200
