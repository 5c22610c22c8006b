"""A server killed with SIGKILL while alerts and log records stream in: after a restart on the same
store, every batch it acknowledged is there whole, no batch is there in part, every stored signal's
incident exists, and ingestion, correlation and the log miner carry on."""

from __future__ import annotations

import re
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import httpx
from tests._writers import post_until_stopped
from tests.aiops.ingestion._helpers import API, alert, am_payload

ALERTS_PER_BATCH = 20
LOGS_PER_BATCH = 50


def _alerts(i: int) -> dict[str, Any]:
    return am_payload([alert(f"Crash{i}", f"svc{i % 7}", instance=f"host{j}") for j in range(ALERTS_PER_BATCH)])


def _logs(i: int) -> dict[str, Any]:
    now = time.time_ns()
    records = [{"timeUnixNano": str(now + j), "severityText": "INFO",
                "body": {"stringValue": f"batch {i} record {j}: user {j % 5} logged in from 10.0.0.{j}"}}
               for j in range(LOGS_PER_BATCH)]
    return {"resourceLogs": [{"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "auth"}}]},
                              "scopeLogs": [{"logRecords": records}]}]}


def _all_signals(c: httpx.Client, kind: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    while True:
        r = c.get(API + "/signals", params={"kind": kind, "limit": 5000, "offset": len(out)})
        assert r.status_code == 200, r.text
        page = r.json()["signals"]
        out += page
        if len(page) < 5000:
            return out


def _batch_sizes(signals: list[dict[str, Any]], key: Callable[[dict[str, Any]], int | None]) -> Counter[int]:
    return Counter(k for k in map(key, signals) if k is not None)


def _alert_batch(s: dict[str, Any]) -> int | None:
    m = re.fullmatch(r"Crash(\d+)", (s.get("labels") or {}).get("alertname", ""))
    return int(m.group(1)) if m else None


def _log_batch(s: dict[str, Any]) -> int | None:
    m = re.match(r"batch (\d+) record", s.get("text") or "")
    return int(m.group(1)) if m else None


def test_sigkill_mid_ingestion_keeps_every_acknowledged_batch_whole(opsloop_server, tmp_path) -> None:  # noqa: ANN001
    data = tmp_path / "store"
    server = opsloop_server(data_dir=data)
    acked_alerts: list[int] = []
    acked_logs: list[int] = []
    stop = threading.Event()
    writers = [threading.Thread(target=post_until_stopped, args=(server.url, API + "/ingest/alertmanager", _alerts,
                                                      acked_alerts, stop)),
               threading.Thread(target=post_until_stopped, args=(server.url, "/v1/logs", _logs, acked_logs, stop))]
    for w in writers:
        w.start()
    deadline = time.monotonic() + 60
    while (len(acked_alerts) < 5 or len(acked_logs) < 5) and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)
    server.kill()  # SIGKILL while both writers are mid-request
    stop.set()
    for w in writers:
        w.join(30)
    assert len(acked_alerts) >= 5 and len(acked_logs) >= 5

    server = opsloop_server(data_dir=data)
    with httpx.Client(base_url=server.url, timeout=60) as c:
        alerts = _all_signals(c, "alert")
        per_batch = _batch_sizes(alerts, _alert_batch)
        assert all(per_batch[i] == ALERTS_PER_BATCH for i in acked_alerts), "an acknowledged alert batch was lost"
        assert set(per_batch.values()) <= {ALERTS_PER_BATCH}, f"a batch was stored in part: {per_batch}"
        logs = _batch_sizes(_all_signals(c, "log"), _log_batch)
        assert all(logs[i] == LOGS_PER_BATCH for i in acked_logs), "an acknowledged log batch was lost"
        assert set(logs.values()) <= {LOGS_PER_BATCH}, f"a log batch was stored in part: {logs}"

        # Every incident a stored alert names exists, and lists that alert.
        incident_ids = {s["incident_id"] for s in alerts if s.get("incident_id") is not None}
        assert incident_ids, "the alerts opened no incident"
        for incident_id in sorted(incident_ids)[:20]:
            r = c.get(f"{API}/incidents/{incident_id}")
            assert r.status_code == 200, r.text
            assert r.json()["signals"], r.text

        # The restarted server goes on: a resolve of an acknowledged batch resolves its signals,
        # new alerts correlate, new log records are mined.
        first = acked_alerts[0]
        resolved = am_payload([alert(f"Crash{first}", f"svc{first % 7}", instance=f"host{j}", status="resolved")
                               for j in range(ALERTS_PER_BATCH)])
        r = c.post(API + "/ingest/alertmanager", json=resolved)
        assert r.status_code == 200 and r.json()["resolved"] == ALERTS_PER_BATCH, r.text
        r = c.post(API + "/ingest/alertmanager", json=_alerts(10_000))
        assert r.status_code == 200, r.text
        assert r.json()["incidents_opened"] or r.json()["incidents_updated"], r.text
        r = c.post("/v1/logs", json=_logs(10_000))
        assert r.status_code == 200, r.text
        templates = c.get(API + "/logs/templates", params={"service": "auth"})
        assert templates.status_code == 200 and templates.json()["templates"], templates.text
