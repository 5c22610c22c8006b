"""``GET /api/v2/silences`` (``amtool silence query``) lists silences in Alertmanager's order: the active
ones ending first, then the pending ones starting first, then the expired ones, the latest ended first
(it listed them by id, so the silence about to end hid among the others)."""

from __future__ import annotations

import time

from tests.aiops.ingestion._helpers import iso


def _silence(client, comment: str, start: float, end: float) -> str:  # noqa: ANN001
    r = client.post("/api/v2/silences", json={
        "matchers": [{"name": "alertname", "value": comment, "isRegex": False, "isEqual": True}],
        "startsAt": iso(start), "endsAt": iso(end), "createdBy": "sre", "comment": comment})
    assert r.status_code == 200, r.text
    return r.json()["silenceID"]


def test_silences_are_listed_in_alertmanagers_order(client) -> None:  # noqa: ANN001
    now = time.time()
    _silence(client, "active-long", now, now + 7200)
    _silence(client, "pending-late", now + 7200, now + 9000)
    _silence(client, "active-short", now, now + 600)
    _silence(client, "pending-soon", now + 3600, now + 9000)
    first = _silence(client, "expired-first", now, now + 60)
    second = _silence(client, "expired-later", now, now + 60)
    assert client.delete(f"/api/v2/silence/{first}").status_code == 200
    time.sleep(0.01)
    assert client.delete(f"/api/v2/silence/{second}").status_code == 200
    listed = [s["comment"] for s in client.get("/api/v2/silences").json()]
    assert listed == ["active-short", "active-long", "pending-soon", "pending-late", "expired-later",
                      "expired-first"]
