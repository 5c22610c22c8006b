"""``GET /api/v2/silences?filter=…`` (``amtool silence query MATCHERS``) selects silences as Alertmanager
does (``CheckSilenceMatchesFilterLabels``): a silence is listed when each filter matcher is one of its
matchers, same name, operator and value — not when the filter, as a label matcher, passes the values of
the silence's matchers (``env!="prod"`` listed every silence without an ``env`` matcher, and not the one
with ``env!="prod"``)."""

from __future__ import annotations

import time

from tests.aiops.ingestion._helpers import iso


def _silence(client, comment: str, *matchers: tuple[str, str, bool, bool]) -> None:  # noqa: ANN001
    now = time.time()
    r = client.post("/api/v2/silences", json={
        "matchers": [{"name": n, "value": v, "isRegex": regex, "isEqual": equal} for n, v, regex, equal in matchers],
        "startsAt": iso(now), "endsAt": iso(now + 3600), "createdBy": "sre", "comment": comment})
    assert r.status_code == 200, r.text


def test_a_silence_filter_selects_silences_having_those_matchers(client) -> None:  # noqa: ANN001
    _silence(client, "disk", ("service", "db", False, True), ("alertname", "Disk.*", True, True))
    _silence(client, "not-prod", ("env", "prod", False, False), ("team", "ops", False, True))
    _silence(client, "foo", ("alertname", "Foo", False, True))

    def listed(*filters: str) -> list[str]:
        r = client.get("/api/v2/silences", params={"filter": list(filters)})
        assert r.status_code == 200, r.text
        return sorted(s["comment"] for s in r.json())

    # what Debian's Alertmanager 0.25 answers to ``amtool silence query`` with the same silences
    assert listed() == ["disk", "foo", "not-prod"]
    assert listed('env!="prod"') == ["not-prod"]
    assert listed('env="prod"') == []
    assert listed('env!~"prod"') == []
    assert listed('alertname!="Foo"') == []
    assert listed('alertname=~"Disk.*"') == ["disk"]
    assert listed('alertname="Disk.*"') == []
    assert listed('alertname=~"Disk"') == []
    assert listed('service="db"', 'alertname=~"Disk.*"') == ["disk"]
    assert listed('service="db"', 'team="ops"') == []
    r = client.get("/api/v2/silences", params={"filter": "service=~("})
    assert r.status_code == 400 and "filter" in r.json()
