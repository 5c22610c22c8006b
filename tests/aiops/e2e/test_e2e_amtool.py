"""End to end: Debian's ``amtool`` (from prometheus-alertmanager) reads opsloop as it reads an Alertmanager:
the firing alerts (``alert query`` with matchers, silenced ones with ``-s``) and the status."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path

import httpx
import pytest

pytestmark = [pytest.mark.prometheus, pytest.mark.timeout(120)]

AMTOOL = shutil.which("amtool") or "/usr/bin/amtool"


def _iso(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def test_amtool_queries_opsloops_alerts(server) -> None:  # noqa: ANN001
    if not Path(AMTOOL).exists():
        pytest.skip(f"{AMTOOL} is absent: install Debian's prometheus-alertmanager (scripts/install-system-deps.sh does)")
    now = time.time()
    assert httpx.post(f"{server.url}/api/opsloop/v1/silences",
                      json={"matchers": "service=api", "duration_s": 3600}).status_code in (200, 201)
    r = httpx.post(f"{server.url}/api/v2/alerts", json=[
        {"labels": {"alertname": "DBDown", "service": "db", "severity": "critical"},
         "annotations": {"summary": "db is down"}, "startsAt": _iso(now - 60), "endsAt": _iso(now + 600)},
        {"labels": {"alertname": "Slow", "service": "api", "severity": "warning"}, "startsAt": _iso(now - 30)},
        {"labels": {"alertname": "DiskFull", "service": "db", "severity": "warning"}, "startsAt": _iso(now - 10)},
    ])
    assert r.status_code == 200, r.text

    def amtool(*args: str) -> str:
        done = subprocess.run([AMTOOL, f"--alertmanager.url={server.url}", *args], capture_output=True, text=True,
                              timeout=30)
        assert done.returncode == 0, done.stderr
        return done.stdout

    shown = json.loads(amtool("alert", "query", "-o", "json"))  # amtool's default: the active ones
    assert sorted(a["labels"]["alertname"] for a in shown) == ["DBDown", "DiskFull"]
    assert {a["status"]["state"] for a in shown} == {"active"}
    assert "db is down" in amtool("alert", "query", "alertname=DBDown")
    assert json.loads(amtool("alert", "query", "service=db", "alertname=~Disk.*", "-o", "json"))[0]["labels"] == {
        "alertname": "DiskFull", "service": "db", "severity": "warning"}
    [silenced] = json.loads(amtool("alert", "query", "-s", "-o", "json"))
    assert silenced["labels"]["alertname"] == "Slow" and silenced["status"]["state"] == "suppressed"
    assert "disabled" in amtool("cluster", "show")
    bad = subprocess.run([AMTOOL, f"--alertmanager.url={server.url}", "alert", "query", "-r", "("],
                         capture_output=True, text=True, timeout=30)
    assert bad.returncode != 0 and "receiver" in bad.stderr


def test_amtool_adds_queries_and_expires_silences(server) -> None:  # noqa: ANN001
    if not Path(AMTOOL).exists():
        pytest.skip(f"{AMTOOL} is absent: install Debian's prometheus-alertmanager (scripts/install-system-deps.sh does)")

    def amtool(*args: str) -> str:
        done = subprocess.run([AMTOOL, f"--alertmanager.url={server.url}", *args], capture_output=True, text=True,
                              timeout=30)
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    sid = amtool("silence", "add", "service=db", "alertname=~Disk.*", "--comment=disk swap", "--author=sre",
                 "--duration=2h")
    assert sid.isdecimal()
    [listed] = httpx.get(f"{server.url}/api/opsloop/v1/silences").json()["silences"]
    assert listed["comment"] == "disk swap" and listed["created_by"] == "sre"
    assert sorted(listed["matchers"]) == ['alertname=~"Disk.*"', 'service="db"']
    assert amtool("silence", "query", "-q") == sid
    assert amtool("silence", "query", "-q", "service=api") == ""
    now = time.time()
    httpx.post(f"{server.url}/api/v2/alerts", json=[
        {"labels": {"alertname": "DiskFull", "service": "db"}, "startsAt": _iso(now - 5)}])
    [muted] = json.loads(amtool("alert", "query", "-s", "-o", "json"))
    assert muted["status"]["silencedBy"] == [sid]
    amtool("silence", "expire", sid)
    assert amtool("silence", "query", "-q") == ""
    assert json.loads(amtool("alert", "query", "-o", "json"))[0]["labels"]["alertname"] == "DiskFull"


def test_amtool_alert_add_fires_an_alert_in_opsloop(server) -> None:  # noqa: ANN001
    """``amtool alert add`` posts Go's zero time (``0001-01-01T00:00:00.000Z``) for the start and end it was
    not given: the alert starts now and fires for the resolve timeout, as Alertmanager takes it."""
    if not Path(AMTOOL).exists():
        pytest.skip(f"{AMTOOL} is absent: install Debian's prometheus-alertmanager (scripts/install-system-deps.sh does)")
    before = time.time()
    done = subprocess.run([AMTOOL, f"--alertmanager.url={server.url}", "alert", "add", "alertname=ManualTest",
                           "service=inventory", "severity=critical", "--annotation=summary=added by hand"],
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    [alert] = httpx.get(f"{server.url}/api/opsloop/v1/signals", params={"kind": "alert"}).json()["signals"]
    assert alert["labels"]["alertname"] == "ManualTest" and alert["status"] == "firing"
    assert alert["time"] >= before - 1 and alert["incident_id"] is not None
    assert alert["evidence"]["expires_at"] >= before + 299
    done = subprocess.run([AMTOOL, f"--alertmanager.url={server.url}", "alert", "query", "-o", "json"],
                          capture_output=True, text=True, timeout=30)
    assert [a["annotations"]["summary"] for a in json.loads(done.stdout)] == ["added by hand"]


def test_amtool_alert_add_prints_why_opsloop_refused_an_alert(server) -> None:  # noqa: ANN001
    """A refused alert (a label value over ``ingestion.max_label_bytes``) is answered with a JSON string, as
    Alertmanager answers, so amtool prints the reason instead of failing to read the answer."""
    if not Path(AMTOOL).exists():
        pytest.skip(f"{AMTOOL} is absent: install Debian's prometheus-alertmanager (scripts/install-system-deps.sh does)")
    done = subprocess.run([AMTOOL, f"--alertmanager.url={server.url}", "alert", "add", "alertname=TooBig",
                           "service=inventory", f"note={'x' * 5000}"], capture_output=True, text=True, timeout=30)
    assert done.returncode != 0
    assert "rejected 1 of 1 items" in done.stderr and "unmarshal" not in done.stderr, done.stderr
    assert httpx.get(f"{server.url}/api/opsloop/v1/signals", params={"kind": "alert"}).json()["signals"] == []
