"""Deployments API: a real server scores a registered model at /serving/... and reports its traffic,
errors and latency at /api/opsloop/v1/deployments."""

from __future__ import annotations

import time

import httpx
import pytest
from tests._models import register_sklearn_champion

from opsloop.mlops.serving.metrics import LATENCY_BUCKETS, MetricsTable, ServingMetrics
from opsloop.server.deployments import SAMPLE_SECONDS, DeploymentTracker, latency_quantile

DEPLOYMENTS = "/api/opsloop/v1/deployments"
ROWS = {"dataframe_split": {"columns": ["a", "b"], "data": [[2.0, 2.0], [-2.0, -2.0]]}}


@pytest.fixture
def scored(server, monkeypatch) -> str:  # noqa: ANN001
    """A server with model ``churn`` (alias ``champion``) scored 4 times, once with a bad request."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", server.url)
    register_sklearn_champion(server.url, "churn")
    with httpx.Client(base_url=server.url, timeout=30) as http:
        for _ in range(3):
            assert http.post("/serving/churn/champion/invocations", json=ROWS).status_code == 200
        bad = http.post("/serving/churn/champion/invocations", json={"no_such_format": 1})
        assert bad.status_code == 400, bad.text
    return server.url


def test_deployments_list_counts_requests_errors_and_latency(scored: str) -> None:
    doc = httpx.get(scored + DEPLOYMENTS).json()
    [dep] = doc["deployments"]
    assert dep["model"] == "churn" and dep["ref"] == "champion" and dep["alias"] == "champion"
    assert dep["status"] == "serving"
    assert dep["invocations"] == "/serving/churn/champion/invocations"
    assert dep["requests"] == 4 and dep["errors"] == 1
    assert dep["error_rate"] == pytest.approx(0.25)
    assert 0 < dep["p50_ms"] <= dep["p95_ms"] <= dep["p99_ms"]
    assert dep["mean_ms"] > 0


def test_deployment_detail_has_kinds_histogram_and_a_sampled_series(scored: str) -> None:
    url = scored + DEPLOYMENTS + "/churn/champion"
    deadline = time.monotonic() + 6 * SAMPLE_SECONDS
    doc = httpx.get(url).json()
    # the sampler ticks every SAMPLE_SECONDS: a tick while the requests were scored holds some of them,
    # the next tick the others
    while sum(p["requests"] for p in doc["series"]) < 4 and time.monotonic() < deadline:
        time.sleep(0.5)
        doc = httpx.get(url).json()
    assert doc["status_counts"] == {"2xx": 3, "4xx": 1, "5xx": 0}
    assert doc["error_kinds"]["bad_request"] == 1
    assert sum(doc["latency_histogram"]["counts"]) == 4
    assert doc["series"], "the sampler recorded no point"
    assert sum(p["requests"] for p in doc["series"]) == 4
    assert sum(p["errors"] for p in doc["series"]) == 1


def test_unknown_deployment_is_404_in_mlflow_shape(scored: str) -> None:
    resp = httpx.get(scored + DEPLOYMENTS + "/churn/7")
    assert resp.status_code == 404
    assert resp.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"


def test_no_deployment_before_anything_is_scored(server) -> None:  # noqa: ANN001
    assert httpx.get(server.url + DEPLOYMENTS).json()["deployments"] == []


def test_metrics_snapshot_counts_status_kinds_and_latency() -> None:
    metrics = ServingMetrics(MetricsTable())
    metrics.observe_request(200, 0.003)
    metrics.observe_request(400, 0.0002, "bad_request")
    snap = metrics.snapshot()
    assert snap.requests == 2 and snap.errors == 1
    assert snap.status == {"2xx": 1, "4xx": 1, "5xx": 0}
    assert snap.error_kinds["bad_request"] == 1
    assert len(snap.latency_counts) == len(LATENCY_BUCKETS) + 1 and sum(snap.latency_counts) == 2
    metrics.observe_request(200, 0.003)
    assert snap.requests == 2, "a snapshot is a copy"


def test_latency_quantile_interpolates_within_the_bucket() -> None:
    counts = [0] * (len(LATENCY_BUCKETS) + 1)
    counts[LATENCY_BUCKETS.index(0.01)] = 10  # all requests in (0.005, 0.01]
    assert latency_quantile(counts, 0.5) == pytest.approx(0.0075)
    assert latency_quantile(counts, 1.0) == pytest.approx(0.01)
    counts[-1] = 100  # over the largest bound: answered with it
    assert latency_quantile(counts, 0.99) == LATENCY_BUCKETS[-1]
    assert latency_quantile([0] * len(counts), 0.5) is None


class _FakeApp:
    """What the tracker reads from a scoring app: its metrics and its model's description."""

    def __init__(self, uri: str) -> None:
        self.metrics = ServingMetrics(MetricsTable(), model=uri)
        self.slots = type("Slots", (), {"champion": type("M", (), {"describe": lambda _s: {"flavor": "f"}})()})()


class _FakeScoring:
    def __init__(self) -> None:
        self.apps: dict[str, _FakeApp] = {}

    def served(self) -> dict[str, _FakeApp]:
        return dict(self.apps)


def test_tracker_keeps_totals_when_a_model_is_reloaded_or_unloaded() -> None:
    scoring = _FakeScoring()
    tracker = DeploymentTracker(lambda: scoring)  # type: ignore[arg-type, return-value]
    scoring.apps["models:/m@champion"] = first = _FakeApp("models:/m@champion")
    for _ in range(3):
        first.metrics.observe_request(200, 0.002)
    tracker.sample(1000.0)
    scoring.apps["models:/m@champion"] = second = _FakeApp("models:/m@champion")  # the alias moved
    second.metrics.observe_request(500, 0.002, "internal")
    tracker.sample(1005.0)
    track = tracker.refresh()["models:/m@champion"]
    summary = tracker.summary(track)
    assert (summary["model"], summary["alias"], summary["requests"], summary["errors"]) == ("m", "champion", 4, 1)
    assert [int(d[:3].sum()) for _, _, d in track.samples] == [3, 1]
    del scoring.apps["models:/m@champion"]  # dropped from the scoring app's cache
    assert tracker.summary(tracker.refresh()["models:/m@champion"])["status"] == "unloaded"


def test_tracker_names_version_and_alias_deployments() -> None:
    scoring = _FakeScoring()
    tracker = DeploymentTracker(lambda: scoring)  # type: ignore[arg-type, return-value]
    scoring.apps = {"models:/a.b/12": _FakeApp("models:/a.b/12"), "models:/x@prod": _FakeApp("models:/x@prod")}
    found = {t.uri: tracker.summary(t) for t in tracker.refresh().values()}
    assert (found["models:/a.b/12"]["model"], found["models:/a.b/12"]["version"]) == ("a.b", "12")
    assert found["models:/x@prod"]["invocations"] == "/serving/x/prod/invocations"
    assert found["models:/x@prod"]["requests"] == 0 and found["models:/x@prod"]["p50_ms"] is None
