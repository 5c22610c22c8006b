"""Valid payloads of every JSON ingestion format, mutated at random (a value swapped for another type,
a huge or hostile value, a key dropped): each answer is a 2xx or a 4xx, never a 5xx. Seeded."""

from __future__ import annotations

import json
import random
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from tests._mutations import mutate
from tests.aiops.ingestion._helpers import API, aiops_client

MUTATIONS = 250  # per format
VALUES = [None, "", "x" * 5000, -1, 0, 2**70, -(2**70), 1.5, 1e308, -1e308, True, [], {}, [1, "a", None],
          {"a": {"b": []}}, "\u0000", "1e400", "-1", "NaN", "Infinity", "2026-13-45T99:99:99Z"]


def _seeds() -> dict[str, Any]:
    now = time.time()
    ns = str(int(now * 1e9))
    res = {"attributes": [{"key": "service.name", "value": {"stringValue": "svc"}}]}
    point = {"timeUnixNano": ns, "attributes": [{"key": "h", "value": {"stringValue": "x"}}]}
    return {
        API + "/ingest/alertmanager": {
            "version": "4", "status": "firing", "receiver": "r", "groupLabels": {}, "commonLabels": {},
            "commonAnnotations": {}, "externalURL": "http://am", "groupKey": "g", "truncatedAlerts": 0,
            "alerts": [{"status": "firing", "labels": {"alertname": "A", "service": "s"}, "annotations": {"summary": "x"},
                        "startsAt": "2026-11-24T10:00:00Z", "endsAt": "0001-01-01T00:00:00Z",
                        "generatorURL": "http://p", "fingerprint": "abc"}]},
        API + "/events": {"kind": "alert", "source": "t", "service": "s", "labels": {"a": "b"}, "severity": "error",
                          "text": "x", "values": {"v": 1.0}, "time": now, "status": "firing", "evidence": {"k": [1]}},
        "/v1/logs": {"resourceLogs": [{"resource": res, "scopeLogs": [{"scope": {"name": "x"}, "logRecords": [
            {"timeUnixNano": ns, "severityNumber": 9, "severityText": "INFO", "body": {"stringValue": "user 1 in"},
             "attributes": [{"key": "k", "value": {"intValue": "3"}}], "traceId": "5B8EFFF798038103D269B633813FC60C"}]}]}]},
        "/v1/metrics": {"resourceMetrics": [{"resource": res, "scopeMetrics": [{"metrics": [
            {"name": "g", "gauge": {"dataPoints": [{**point, "asDouble": 1.5}]}},
            {"name": "c", "sum": {"aggregationTemporality": 2, "isMonotonic": True, "dataPoints": [{**point, "asInt": "7"}]}},
            {"name": "h", "histogram": {"dataPoints": [{**point, "count": "3", "sum": 4.5, "bucketCounts": ["1", "2"],
                                                       "explicitBounds": [1.0]}]}},
            {"name": "s", "summary": {"dataPoints": [{**point, "count": "3", "sum": 4.5,
                                                     "quantileValues": [{"quantile": 0.5, "value": 1.0}]}]}}]}]}]},
        "/loki/api/v1/push": {"streams": [{"stream": {"service": "s", "level": "info"},
                                           "values": [[ns, "user 1 logged in"], [ns, "x", {"trace_id": "t"}]]}]},
    }


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    with aiops_client(Path(tmp_path_factory.mktemp("fuzz")), rate_limit_per_sender=1e9) as c:
        yield c


@pytest.mark.parametrize("url", list(_seeds()))
def test_mutated_payloads_never_get_a_server_error(client: TestClient, url: str) -> None:
    seed = _seeds()[url]
    assert client.post(url, json=seed).status_code < 300, "the unmutated payload must be accepted"
    r = random.Random(f"{url}-20261124")
    failures = []
    for _ in range(MUTATIONS):
        body = mutate(seed, r, VALUES, edits=3, drop=0.15)
        resp = client.post(url, content=json.dumps(body), headers={"content-type": "application/json"})
        if resp.status_code >= 500:
            failures.append(f"{json.dumps(body)[:300]} -> {resp.text[:200]}")
    assert not failures, "\n".join(failures[:5])
