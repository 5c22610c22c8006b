"""A pending silence (one that starts later) expired before its start (``amtool silence expire``) is
``expired``, as Debian's Alertmanager 0.25 shows it (its start moved to its end), not ``pending`` with an
end before its start; it is not listed among the silences not yet ended and never mutes."""

from __future__ import annotations

import time

from tests.aiops.ingestion._helpers import API, iso


def test_a_pending_silence_expired_before_its_start_is_expired(client) -> None:  # noqa: ANN001
    now = time.time()
    r = client.post("/api/v2/silences", json={
        "matchers": [{"name": "service", "value": "db", "isRegex": False, "isEqual": True}],
        "startsAt": iso(now + 3600), "endsAt": iso(now + 7200), "createdBy": "sre", "comment": "tonight"})
    assert r.status_code == 200, r.text
    sid = r.json()["silenceID"]
    assert client.get(f"/api/v2/silence/{sid}").json()["status"] == {"state": "pending"}
    assert client.delete(f"/api/v2/silence/{sid}").status_code == 200
    got = client.get(f"/api/v2/silence/{sid}").json()
    assert got["status"] == {"state": "expired"}, got
    assert got["startsAt"] == got["endsAt"], got
    [listed] = client.get(API + "/silences", params={"all": "true"}).json()["silences"]
    assert listed["state"] == "expired"
    assert client.get(API + "/silences").json()["silences"] == []
