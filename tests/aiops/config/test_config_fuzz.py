"""Every pipeline document (and the topology and silences), randomly edited (wrong types, huge numbers, missing keys, masked secrets):
the PUT is a 200 or a 400/422 naming a field, never a 500, and alerts and metrics are still ingested after it."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from tests._mutations import mutate
from tests.aiops.ingestion._helpers import API, alert, am_payload

from opsloop.aiops.ingestion.remote_write import encode_remote_write
from opsloop.server.app import create_app
from opsloop.settings import load_settings

VALUES = [None, True, 0, -1, -0.5, 1e308, 10**20, "x", "", "***", "1s", '{a="b"}', [], [1], {}, {"a": 1}]
DOCS = {
    "watch_rules": [{"name": "cpu", "selector": 'cpu{job="api"}', "alerter": {"on": 0.999},
                     "predict": {"threshold": 90, "horizon": 3600, "above": True}}],
    "service_rules": [{"name": "svc", "selector": '{job="api"}', "group_by": ["service"], "bucket": 60,
                       "detector": {"class": "opsloop.aiops.detection.multivariate.HalfSpaceTrees",
                                    "params": {"window_size": 50}}, "alerter": {"on": 0.999}}],
    "metric_rules": [{"name": "Q", "selector": 'cpu{job=~"a|api"}', "above": 100, "for_s": 10, "severity": "error",
                      "text": "{job} is {value}"}],
    "inhibit_rules": [{"source_matchers": ['alertname="Down"'], "target_matchers": ['severity="warning"'],
                       "equal": ["cluster"]}],
    "notification_targets": [{"name": "hook", "url": "http://127.0.0.1:9/x", "format": "slack",
                              "matchers": ['service="db"'], "min_severity": "warning", "headers": {"A": "b"}}],
    "prometheus_queries": [{"name": "up", "url": "http://127.0.0.1:9", "query": "up", "interval_s": 30,
                            "step_s": 15, "lookback_s": 300}],
    "runbooks": [{"name": "r", "trigger": {"events": ["opened"], "matchers": ['service="db"'], "min_severity": "error"},
                  "action": {"type": "command", "argv": ["/bin/true"], "timeout_s": 5, "env": {"A": "b"}}}],
}
# the other documents an operator writes: (method, path) -> a valid body
OTHER = {
    ("put", "/topology"): {"services": {"checkout": ["payments", "cart"], "payments": ["db"]},
                           "edges": [{"source": "cart", "target": "redis"}]},
    ("post", "/silences"): {"matchers": '{service="db", severity=~"warning|error"}', "kind": "silence",
                            "duration_s": 600, "created_by": "me", "comment": "c"},
    ("post", "/silences#objects"): {"matchers": [{"name": "service", "value": "db", "isRegex": False, "isEqual": True}],
                                    "kind": "maintenance", "starts_at": "2026-01-01T00:00:00Z",
                                    "ends_at": "2027-01-01T00:00:00Z"},
}
PB = {"content-type": "application/x-protobuf", "content-encoding": "snappy"}


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    settings = load_settings({"storage": {"data_dir": str(tmp_path / "data")}}, environ={})
    # a server error is an answer to check here, not an exception in the test
    with TestClient(create_app(settings), raise_server_exceptions=False) as c:
        yield c


def _ingests(client: TestClient) -> None:
    now = time.time()
    body = encode_remote_write([({"__name__": "cpu", "job": "api"}, [(now - 10 + k, 50.0 + k) for k in range(10)])])
    r = client.post("/api/v1/write", content=body, headers=PB)
    assert r.status_code == 204, r.text
    r = client.post(API + "/ingest/alertmanager", json=am_payload([alert("Down", "db", cluster="c1"),
                                                                  alert("Slow", "db", severity="warning", cluster="c1")]))
    assert r.status_code == 200, r.text


@pytest.mark.parametrize("key", sorted(DOCS))
def test_edited_documents_are_refused_with_a_field_or_taken_and_ingestion_goes_on(client: TestClient, key: str) -> None:
    rng = random.Random(f"config-{key}")
    doc = DOCS[key]
    assert client.put(f"{API}/aiops/config/{key}", json=doc).status_code == 200
    for _ in range(25):
        edited = mutate(doc, rng, VALUES, edits=2, drop=0.2)
        r = client.put(f"{API}/aiops/config/{key}", json=edited)
        assert r.status_code in (200, 400, 422), (edited, r.text)  # 422: not a list of objects
        if r.status_code != 200:
            assert r.json()["field"], r.text
        _ingests(client)
        assert client.get(f"{API}/aiops/config/{key}").status_code == 200
        assert client.put(f"{API}/aiops/config/{key}", json=doc).status_code == 200


@pytest.mark.parametrize(("method", "path"), sorted(OTHER))
def test_edited_topology_and_silences_are_refused_with_a_field_or_taken(client: TestClient, method: str,
                                                                        path: str) -> None:
    rng = random.Random(f"other-{method}-{path}")
    doc, url = OTHER[(method, path)], API + path.split("#")[0]
    assert getattr(client, method)(url, json=doc).status_code == 200
    for _ in range(25):
        edited = mutate(doc, rng, VALUES, edits=2, drop=0.2)
        r = getattr(client, method)(url, json=edited)
        assert r.status_code in (200, 400, 422), (edited, r.text)
        if r.status_code != 200:
            assert r.json()["field"], r.text
        _ingests(client)
        assert client.get(API + "/topology").status_code == 200
        assert client.get(API + "/silences").status_code == 200


@pytest.mark.parametrize("body", [{"edges": True}, {"edges": 1e308}, {"edges": "a->b"}, {"services": ["a"]},
                                  {"services": {"a": [1]}}, {"edges": [{"source": "a"}]}, [],
                                  {"servicez": {"a": ["b"]}}, {"services": {"a": ["b"]}, "edge": []}])
def test_a_topology_of_the_wrong_shape_is_a_400_naming_its_part(client: TestClient, body: object) -> None:
    assert client.put(API + "/topology", json={"services": {"web": ["api"]}}).status_code == 200
    r = client.put(API + "/topology", json=body)
    assert r.status_code in (400, 422) and r.json()["field"], r.text
    assert client.get(API + "/topology").json()["declared"] == [{"source": "web", "target": "api"}]  # kept
