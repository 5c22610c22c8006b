"""Which label names a signal's service: Kubernetes streams and alerts name their container before the
job that scraped or shipped them, as Loki's service discovery does."""

from __future__ import annotations

import time

from tests.aiops.ingestion._helpers import signals


def test_a_promtail_stream_of_a_kubernetes_container_is_that_containers(client) -> None:  # noqa: ANN001
    stream = {"namespace": "shop", "pod": "checkout-7d9f-x2", "container": "checkout", "job": "shop/checkout"}
    body = {"streams": [{"stream": stream, "values": [[str(time.time_ns()), "payment declined"]]}]}
    assert client.post("/loki/api/v1/push", json=body).status_code == 204
    [row] = signals(client, kind="log")
    assert row["service"] == "checkout"


def test_a_kube_state_metrics_alert_is_about_its_container_not_the_exporter(client) -> None:  # noqa: ANN001
    alert = {"status": "firing", "labels": {"alertname": "KubePodCrashLooping", "namespace": "shop",
                                            "pod": "api-5c-1", "container": "api", "job": "kube-state-metrics"},
             "annotations": {}, "startsAt": "2026-12-07T10:00:00Z", "endsAt": "0001-01-01T00:00:00Z",
             "fingerprint": "c0ffee"}
    body = {"version": "4", "status": "firing", "receiver": "opsloop", "groupLabels": {}, "commonLabels": {},
            "commonAnnotations": {}, "externalURL": "http://am", "alerts": [alert]}
    assert client.post("/api/opsloop/v1/ingest/alertmanager", json=body).status_code == 200
    [row] = signals(client, kind="alert")
    assert row["service"] == "api"
