"""The health checks' window, thresholds and hysteresis, on counter readings given by hand."""

from __future__ import annotations

import pytest

from opsloop.core.signals import SignalKind
from opsloop.mlops.monitoring import InMemoryMonitoringStore
from opsloop.mlops.monitoring.health import (
    HealthMonitor,
    HealthPolicy,
    RequestCounts,
    RequestWindow,
    evaluate,
    latency_quantile,
)
from opsloop.mlops.serving.metrics import LATENCY_BUCKETS, ServingMetrics

FAST = LATENCY_BUCKETS.index(0.01)  # the bucket of requests of 5-10 ms
SLOW = LATENCY_BUCKETS.index(2.5)  # 1-2.5 s


def counts(requests: int, errors: int = 0, slow: int = 0) -> RequestCounts:
    """Cumulative counters: ``requests`` answered, ``errors`` of them 5xx, ``slow`` of them in 1-2.5 s."""
    lat = [0] * (len(LATENCY_BUCKETS) + 1)
    lat[FAST], lat[SLOW] = requests - slow, slow
    return RequestCounts(requests, errors, tuple(lat))


def test_the_window_counts_what_came_since_the_newest_reading_before_it_started() -> None:
    window = RequestWindow()
    window.observe(0.0, counts(100, 50))
    window.observe(200.0, counts(150, 52))
    window.observe(400.0, counts(300, 60))
    assert window.over(300.0, 400.0) == counts(300, 60).minus(counts(100, 50))  # reading at 0 is before 100
    assert window.over(150.0, 400.0) == counts(150, 8)  # since the reading at 200
    assert window.over(500.0, 400.0) == counts(300, 60)  # older than every reading: all that was counted


def test_counters_that_went_backwards_were_reset_and_count_from_zero() -> None:
    window = RequestWindow()
    window.observe(0.0, counts(100, 50))
    window.observe(10.0, counts(5, 1))  # the model was reloaded: its counters start again
    assert window.over(5.0, 10.0) == counts(5, 1)


def test_readings_older_than_the_longest_window_are_dropped_but_its_baseline_is_kept() -> None:
    window = RequestWindow()
    for t in range(0, 10_000, 60):
        window.observe(float(t), counts(t, 0))
    assert len(window._readings) <= 3600 / 60 + 2
    assert window.over(3600.0, 9960.0).requests == 3600


def test_too_few_requests_give_no_verdict_and_keep_the_state() -> None:
    policy = HealthPolicy(min_requests=20, max_error_rate=0.05)
    assert evaluate(policy, counts(2, 1), False, "error_rate") == (None, None)  # 1 of 2 failed: not a page
    assert evaluate(policy, counts(2, 0), True, "error_rate") == (None, None)  # nor a recovery


def test_a_breach_fires_once_and_resolves_below_the_hysteresis_band() -> None:
    policy = HealthPolicy(min_requests=10, max_error_rate=0.1, resolve_ratio=0.5)
    assert evaluate(policy, counts(100, 20), False, "error_rate") == ("firing", 0.2)
    assert evaluate(policy, counts(100, 20), True, "error_rate") == (None, 0.2)  # still firing: said already
    assert evaluate(policy, counts(100, 8), True, "error_rate") == (None, 0.08)  # under 0.1, above 0.05: holds
    assert evaluate(policy, counts(100, 5), True, "error_rate") == ("resolved", 0.05)
    assert evaluate(policy, counts(100, 8), False, "error_rate") == (None, 0.08)  # between: does not fire again


def test_p99_latency_is_estimated_inside_the_histogram_buckets() -> None:
    assert latency_quantile([0] * (len(LATENCY_BUCKETS) + 1), 0.99) is None
    assert 1.0 < latency_quantile(counts(100, slow=5).latency_counts, 0.99) <= 2.5  # type: ignore[operator]
    assert latency_quantile(counts(1000, slow=5).latency_counts, 0.99) <= 0.01  # type: ignore[operator]
    over = [0] * len(LATENCY_BUCKETS) + [10]
    assert latency_quantile(over, 0.99) == LATENCY_BUCKETS[-1]
    policy = HealthPolicy(min_requests=10, max_latency_p99_s=1.0)
    assert evaluate(policy, counts(100, slow=5), False, "latency_p99")[0] == "firing"
    assert evaluate(HealthPolicy(max_latency_p99_s=None), counts(100, slow=50), False, "latency_p99") == (None, None)


def test_one_episode_gives_one_firing_and_one_resolved_signal_per_deployment_and_check() -> None:
    store = InMemoryMonitoringStore()
    monitor = HealthMonitor(store, lambda _name: HealthPolicy(min_requests=10, max_error_rate=0.1))
    sent: list = []
    monitor.on_signals = sent.extend
    key = ("fraud", "champion")
    monitor.observe({key: counts(50, 0)}, 0.0)
    monitor.observe({key: counts(100, 30)}, 60.0)
    monitor.observe({key: counts(120, 40)}, 120.0)
    monitor.observe({key: counts(1000, 40), ("fraud", "2"): counts(50)}, 180.0)
    assert [(s.labels["check"], s.status) for s in sent] == [("error_rate", "firing"), ("error_rate", "resolved")]
    fired = sent[0]
    assert fired.kind == SignalKind.MODEL_HEALTH and fired.service == "fraud" and fired.source == "monitor:health"
    assert fired.labels == {"model": "fraud", "ref": "champion", "check": "error_rate"}
    assert fired.evidence["requests"] == 100 and fired.evidence["server_errors"] == 30
    assert fired.evidence["threshold"] == 0.1 and fired.evidence["window_s"] == 300.0
    assert sent[1].fingerprint() == fired.fingerprint()  # the same condition: it resolves the incident fired
    assert [s.status for s in store.list_signals(model="fraud")] == ["resolved", "firing"]


def test_a_new_process_takes_the_state_from_the_stored_signals() -> None:
    store = InMemoryMonitoringStore()
    policy = HealthPolicy(min_requests=10, max_error_rate=0.1)
    HealthMonitor(store, lambda _n: policy).observe({("m", "1"): counts(100, 50)}, 0.0)
    later = HealthMonitor(store, lambda _n: policy)  # a restarted server: its counters start from zero
    first = later.observe({("m", "1"): counts(100, 50)}, 10.0)
    assert first["signals"] == [] and first["deployments"][0]["checks"]["error_rate"]["firing"] is True
    resolved = later.observe({("m", "1"): counts(1000, 50)}, 400.0)
    assert [s["status"] for s in resolved["signals"]] == ["resolved"]


def test_looking_without_emitting_changes_nothing() -> None:
    store = InMemoryMonitoringStore()
    monitor = HealthMonitor(store, lambda _n: HealthPolicy(min_requests=1))
    doc = monitor.observe({("m", "1"): counts(10, 10)}, 0.0, emit=False)
    assert doc["signals"] == [] and doc["deployments"][0]["checks"]["error_rate"] == pytest.approx(
        {"observed": 1.0, "threshold": 0.05, "firing": False})
    assert store.list_signals() == []


def test_two_processes_judging_one_store_send_one_episode_once() -> None:
    """The schedule's leader and another worker answering POST /monitoring/health share the state through
    the stored signals: neither fires again what the other fired, and either resolves it once."""
    store = InMemoryMonitoringStore()
    policy = HealthPolicy(min_requests=10, max_error_rate=0.1)
    leader, worker = HealthMonitor(store, lambda _n: policy), HealthMonitor(store, lambda _n: policy)
    key = ("m", "champion")
    assert [s["status"] for s in worker.observe({key: counts(100, 50)}, 0.0)["signals"]] == ["firing"]
    assert leader.observe({key: counts(100, 50)}, 1.0)["signals"] == []
    assert [s["status"] for s in leader.observe({key: counts(2000, 50)}, 2.0)["signals"]] == ["resolved"]
    assert worker.observe({key: counts(2000, 50)}, 3.0)["signals"] == []


def test_a_deployment_no_longer_counted_is_forgotten() -> None:
    monitor = HealthMonitor(InMemoryMonitoringStore())
    monitor.observe({("m", "1"): counts(5), ("m", "2"): counts(5)}, 0.0)
    monitor.observe({("m", "2"): counts(6)}, 1.0)
    assert list(monitor._windows) == [("m", "2")]


def test_a_firing_check_of_a_deployment_no_longer_counted_is_closed_with_its_reason() -> None:
    """The server's readings hold every deployment it counts: one it forgot (or never counted since a restart)
    can no longer be judged, so its firing check resolves (as Prometheus resolves an alert whose series are
    gone), once, keeping the labels and severity it fired with."""
    store = InMemoryMonitoringStore()
    monitor = HealthMonitor(store, lambda _n: HealthPolicy(min_requests=10, max_error_rate=0.1),
                            every_deployment=True)
    [fired] = monitor.observe({("m", "1"): counts(100, 50), ("m", "2"): counts(100)}, 0.0)["signals"]
    closed = monitor.observe({("m", "2"): counts(200)}, 60.0)["signals"]
    assert [(s["labels"], s["status"]) for s in closed] == [(fired["labels"], "resolved")]
    assert closed[0]["evidence"]["reason"] == "deployment no longer tracked"
    assert closed[0]["severity"] == fired["severity"] and "observed" not in closed[0]["values"]
    assert monitor.observe({("m", "2"): counts(300)}, 120.0)["signals"] == []


def test_a_store_shared_with_other_serving_processes_leaves_their_checks_alone() -> None:
    store = InMemoryMonitoringStore()
    policy = HealthPolicy(min_requests=10, max_error_rate=0.1)
    HealthMonitor(store, lambda _n: policy).observe({("other", "local"): counts(100, 50)}, 0.0)
    assert HealthMonitor(store, lambda _n: policy).observe({("m", "local"): counts(100)}, 1.0)["signals"] == []


def test_a_firing_check_whose_traffic_stopped_resolves_once_a_whole_window_passed_without_requests() -> None:
    """No request in the window: the condition is no longer evaluated, so the check resolves with its reason
    (it stayed firing for ever); a trickle under min_requests, or a window not yet passed, keeps it firing."""
    store = InMemoryMonitoringStore()
    monitor = HealthMonitor(store, lambda _n: HealthPolicy(window_s=300.0, min_requests=10, max_error_rate=0.1))
    key = ("m", "1")
    [fired] = monitor.observe({key: counts(100, 50)}, 0.0)["signals"]
    assert monitor.observe({key: counts(100, 50)}, 200.0)["signals"] == []  # its burst is still in the window
    assert monitor.observe({key: counts(102, 52)}, 400.0)["signals"] == []  # 2 requests, both failed: firing
    assert monitor.observe({key: counts(102, 52)}, 650.0)["signals"] == []  # the trickle is within 300 s
    [closed] = monitor.observe({key: counts(102, 52)}, 710.0)["signals"]
    assert closed["status"] == "resolved" and closed["labels"] == fired["labels"]
    assert closed["evidence"]["reason"] == "no traffic in window" and "observed" not in closed["values"]
    assert "no requests in the last 300 s" in closed["text"] and closed["severity"] == fired["severity"]
    assert monitor.observe({key: counts(102, 52)}, 720.0)["signals"] == []
    assert [s.status for s in store.list_signals(model="m")] == ["resolved", "firing"]
    refired = monitor.observe({key: counts(202, 152)}, 780.0)["signals"]  # traffic is back, failing
    assert [s["status"] for s in refired] == ["firing"]


def test_a_new_process_waits_a_whole_window_before_closing_a_check_for_lack_of_traffic() -> None:
    store = InMemoryMonitoringStore()
    policy = HealthPolicy(window_s=300.0, min_requests=10, max_error_rate=0.1)
    HealthMonitor(store, lambda _n: policy).observe({("m", "1"): counts(100, 50)}, 0.0)
    later = HealthMonitor(store, lambda _n: policy)  # restarted: the deployment's counters start at 0
    assert later.observe({("m", "1"): counts(0)}, 500.0)["signals"] == []  # no readings over 300 s yet
    assert [s["status"] for s in later.observe({("m", "1"): counts(0)}, 800.0)["signals"]] == ["resolved"]


def test_client_errors_are_left_out_of_the_p99_latency_but_stay_in_the_endpoints_histogram() -> None:
    """A 4xx is answered before the model is asked: slow or fast, it is not the model's latency. /metrics
    (the HTTP endpoint's Prometheus histogram) still counts every answer."""
    metrics = ServingMetrics(model="m")
    for _ in range(5):
        metrics.observe_request(200, 0.003)
    for _ in range(95):
        metrics.observe_request(400, 2.0, "bad_request")  # e.g. a huge malformed body, slow to read
    snap = metrics.snapshot()
    assert sum(snap.latency_counts) == 100 and sum(snap.client_error_latency_counts) == 95
    assert 'opsloop_serving_request_duration_seconds_count{model="m"} 100' in metrics.render()
    counts = RequestCounts.of(snap)
    assert counts.requests == 100 and sum(counts.latency_counts) == 5
    assert latency_quantile(counts.latency_counts, 0.99) <= 0.005  # type: ignore[operator]
    assert evaluate(HealthPolicy(min_requests=5, max_latency_p99_s=1.0), counts, False, "latency_p99")[0] is None
    # min_requests counts the requests whose latency is judged: 5 reached the model
    assert evaluate(HealthPolicy(min_requests=6), counts, False, "latency_p99") == (None, None)


def test_a_firing_latency_check_whose_window_saw_only_client_errors_resolves_for_lack_of_traffic() -> None:
    """4xx answers never reach the model: a window of only those gives the latency check nothing to judge."""
    store = InMemoryMonitoringStore()
    monitor = HealthMonitor(store, lambda _n: HealthPolicy(window_s=60.0, min_requests=10, max_latency_p99_s=1.0))
    key = ("m", "1")
    slow = counts(20, slow=20)
    [fired] = monitor.observe({key: slow}, 0.0)["signals"]
    assert fired["labels"]["check"] == "latency_p99"
    client_errors = RequestCounts(slow.requests + 30, 0, slow.latency_counts)  # 30 more answers, all 4xx
    [closed] = monitor.observe({key: client_errors}, 100.0)["signals"]
    assert closed["labels"] == fired["labels"] and closed["evidence"]["reason"] == "no traffic in window"


def test_a_firing_check_whose_threshold_is_removed_resolves_saying_so() -> None:
    store = InMemoryMonitoringStore()
    policy = {"now": HealthPolicy(min_requests=10, max_error_rate=0.1)}
    monitor = HealthMonitor(store, lambda _n: policy["now"])
    [fired] = monitor.observe({("m", "1"): counts(100, 50)}, 0.0)["signals"]
    policy["now"] = HealthPolicy(min_requests=10, max_error_rate=None)  # a new reference turns the check off
    [closed] = monitor.observe({("m", "1"): counts(200, 100)}, 60.0)["signals"]
    assert closed["labels"] == fired["labels"] and closed["evidence"]["reason"] == "check turned off"
    assert monitor.observe({("m", "1"): counts(300, 150)}, 120.0)["signals"] == []
