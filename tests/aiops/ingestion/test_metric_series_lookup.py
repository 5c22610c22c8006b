"""One metric series looked up by its fingerprint (a chart linked from an incident or an anomaly), not found by
scanning the list of every series."""

from __future__ import annotations

import time

from tests.aiops.ingestion._helpers import API, aiops_client


def _gauge(name: str, value: float, **attrs: str) -> dict:
    point = {"timeUnixNano": str(int(time.time() * 1e9)), "asDouble": value,
             "attributes": [{"key": k, "value": {"stringValue": v}} for k, v in attrs.items()]}
    return {"resourceMetrics": [{"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "api"}}]},
                                 "scopeMetrics": [{"metrics": [{"name": name, "gauge": {"dataPoints": [point]}}]}]}]}


def test_a_series_is_found_by_its_fingerprint_and_an_unknown_one_is_a_404(tmp_path) -> None:  # noqa: ANN001
    with aiops_client(tmp_path) as client:
        for pod in range(30):
            assert client.post("/v1/metrics", json=_gauge("pod_memory_bytes", 1000.0 + pod, pod=f"p{pod}")).status_code == 200
        listed = client.get(API + "/metrics/series", params={"limit": 5000}).json()["series"]
        assert len(listed) == 30
        wanted = listed[17]

        r = client.get(f"{API}/metrics/series/{wanted['series']}")
        assert r.status_code == 200, r.text
        assert r.json() == wanted  # the same fields as its row of the list

        r = client.get(f"{API}/metrics/series/0123456789abcdef")
        assert r.status_code == 404
        assert (r.json()["error_code"], r.json()["field"]) == ("RESOURCE_DOES_NOT_EXIST", "fingerprint")
        r = client.get(f"{API}/metrics/series/{'f' * 33}")
        assert (r.status_code, r.json()["field"]) == (422, "fingerprint")
