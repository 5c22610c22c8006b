"""A regex matcher with its flags first (``alertname=~"(?i)disk.*"``), which Alertmanager takes (Go anchors
it as ``^(?:(?i)disk.*)$``), is taken by a silence and by ``amtool alert query -r``: it was a 400 ("global
flags not at the start of the expression"). It mutes what Debian's Alertmanager 0.25 mutes with it."""

from __future__ import annotations

import time

from tests.aiops.ingestion._helpers import iso


def test_a_silence_with_a_case_insensitive_regex_mutes_as_alertmanagers(client) -> None:  # noqa: ANN001
    now = time.time()
    r = client.post("/api/v2/silences", json={
        "matchers": [{"name": "alertname", "value": "(?i)disk.*", "isRegex": True, "isEqual": True},
                     {"name": "team", "value": "storage", "isRegex": False, "isEqual": True}],
        "startsAt": iso(now), "endsAt": iso(now + 3600), "createdBy": "sre", "comment": "disk swap"})
    assert r.status_code == 200, r.text
    sid = r.json()["silenceID"]
    r = client.post("/api/v2/alerts", json=[{"labels": {"alertname": name, "team": "storage"}, "startsAt": iso(now - 5)}
                                            for name in ("DiskFull", "diskfull", "XDiskFull", "CPUHigh")])
    assert r.status_code == 200, r.text
    state = {a["labels"]["alertname"]: a["status"]["silencedBy"] for a in client.get("/api/v2/alerts").json()}
    assert state == {"DiskFull": [sid], "diskfull": [sid], "XDiskFull": [], "CPUHigh": []}
    r = client.get("/api/v2/alerts", params={"receiver": "(?i)OPS.*"})
    assert r.status_code == 200 and len(r.json()) == 4, r.text
    r = client.get("/api/v2/alerts", params={"filter": 'alertname=~"(?i)cpu.*"'})
    assert r.status_code == 200 and [a["labels"]["alertname"] for a in r.json()] == ["CPUHigh"], r.text
