"""Alertmanager's API v2, read side: what Grafana's Alertmanager data source and ``amtool`` read."""

from __future__ import annotations

import time

from tests.aiops.ingestion._helpers import API, alert, iso

WEBHOOK = f"{API}/ingest/alertmanager"


def _post(client, *alerts) -> None:  # noqa: ANN001
    r = client.post(WEBHOOK, json={"version": "4", "status": "firing", "receiver": "team-db", "groupLabels": {},
                                   "commonLabels": {}, "commonAnnotations": {}, "externalURL": "",
                                   "alerts": list(alerts)})
    assert r.status_code == 200, r.text


def test_status_answers_as_an_alertmanager_does(client) -> None:  # noqa: ANN001
    body = client.get("/api/v2/status").json()
    assert body["cluster"]["status"] == "disabled" and body["cluster"]["peers"] == []
    assert set(body["versionInfo"]) == {"version", "revision", "branch", "buildUser", "buildDate", "goVersion"}
    assert body["config"] == {"original": ""} and body["uptime"].endswith("Z")
    assert client.get("/api/v2/receivers").json() == [{"name": "opsloop"}]
    target = [{"name": "oncall", "url": "http://127.0.0.1:9/hook", "format": "json"}]
    assert client.put(f"{API}/notifications/targets", json=target).status_code == 200
    assert client.get("/api/v2/receivers").json() == [{"name": "opsloop"}, {"name": "oncall"}]


def test_firing_alerts_are_listed_with_alertmanagers_fields(client) -> None:  # noqa: ANN001
    t = time.time() - 120
    _post(client, alert("DBDown", "db", start=t), alert("Slow", "api", start=t + 5))
    _post(client, alert("Old", "web", status="resolved", start=t - 600, end=t - 300))
    alerts = client.get("/api/v2/alerts").json()
    assert [a["labels"]["alertname"] for a in alerts] == ["DBDown", "Slow"]  # oldest first; resolved not listed
    db = alerts[0]
    assert db["annotations"] == {"summary": "DBDown on db"} and db["generatorURL"] == "http://prometheus.example/graph"
    assert db["startsAt"] == iso(t)[:23] + "Z" and db["receivers"] == [{"name": "team-db"}]
    assert db["status"] == {"state": "active", "silencedBy": [], "inhibitedBy": [], "mutedBy": []}
    assert db["fingerprint"] and db["endsAt"] > db["updatedAt"]


def test_a_silenced_alert_is_suppressed_by_its_silence_and_the_flags_filter(client) -> None:  # noqa: ANN001
    r = client.post(f"{API}/silences", json={"matchers": 'service="api"', "duration_s": 3600, "created_by": "me"})
    assert r.status_code in (200, 201), r.text
    silence = r.json()["id"]
    _post(client, alert("DBDown", "db"), alert("Slow", "api"))
    by_name = {a["labels"]["alertname"]: a for a in client.get("/api/v2/alerts").json()}
    assert by_name["Slow"]["status"] == {"state": "suppressed", "silencedBy": [str(silence)], "inhibitedBy": [],
                                         "mutedBy": []}
    names = lambda **q: [a["labels"]["alertname"] for a in client.get("/api/v2/alerts", params=q).json()]  # noqa: E731
    assert names(silenced="false") == ["DBDown"]
    assert names(active="false") == ["Slow"]
    assert names(active="false", silenced="false") == []


def test_filters_and_receiver_select_alerts(client) -> None:  # noqa: ANN001
    _post(client, alert("DBDown", "db", team="storage"), alert("Slow", "api", team="web"), alert("Err", "api"))
    names = lambda **q: sorted(a["labels"]["alertname"] for a in client.get("/api/v2/alerts", params=q).json())  # noqa: E731
    assert names(filter='service="api"') == ["Err", "Slow"]
    assert names(filter=['service="api"', 'team=~"w.*"']) == ["Slow"]
    assert names(filter='{alertname!="DBDown", service!~"a.+"}') == []
    assert names(receiver="team-.*") == ["DBDown", "Err", "Slow"] and names(receiver="other") == []


def test_groups_are_incidents(client) -> None:  # noqa: ANN001
    t = time.time() - 60
    _post(client, alert("DBDown", "db", start=t), alert("DBDown", "db", start=t + 1, instance="db-1"))
    groups = client.get("/api/v2/alerts/groups").json()
    [group] = groups
    incident = client.get(f"{API}/incidents").json()["incidents"][0]["id"]
    assert group["labels"] == {"incident": str(incident)} and len(group["alerts"]) == 2
    assert group["receiver"] == {"name": "opsloop"}


def test_bad_query_parameters_are_400s_naming_them_as_alertmanager_answers(client) -> None:  # noqa: ANN001
    # Alertmanager's 400 body is a JSON string (amtool decodes it as one and prints it)
    for params, field in [({"active": "yes please"}, "active"), ({"filter": 'service=~"("'}, "filter"),
                          ({"filter": "no operator"}, "filter"), ({"receiver": "("}, "receiver")]:
        for path in ("/api/v2/alerts", "/api/v2/alerts/groups"):
            r = client.get(path, params=params)
            assert r.status_code == 400 and isinstance(r.json(), str) and r.json().startswith(field), (params, r.text)


def test_an_unquoted_matcher_value_is_taken_as_alertmanager_takes_it(client) -> None:  # noqa: ANN001
    _post(client, alert("DiskFull", "db"), alert("Slow", "api"))
    got = client.get("/api/v2/alerts", params={"filter": ["service=db", "alertname=~Disk.*"]}).json()
    assert [a["labels"]["alertname"] for a in got] == ["DiskFull"]
    r = client.post(f"{API}/silences", json={"matchers": "{service=api}", "duration_s": 600})
    assert r.status_code in (200, 201) and r.json()["matchers"] == ['service="api"']


def _am_silence(**over) -> dict:  # noqa: ANN003
    now = time.time()
    return {"matchers": [{"name": "service", "value": "api", "isRegex": False}], "startsAt": iso(now - 1),
            "endsAt": iso(now + 3600), "createdBy": "amtool-user", "comment": "deploy", **over}


def test_silences_under_alertmanagers_shapes(client) -> None:  # noqa: ANN001
    r = client.post("/api/v2/silences", json=_am_silence())
    assert r.status_code == 200, r.text
    sid = r.json()["silenceID"]
    # it is opsloop's silence: it mutes, and the opsloop API lists it
    _post(client, alert("Slow", "api"))
    [muted] = client.get("/api/v2/alerts", params={"active": "false"}).json()
    assert muted["status"]["silencedBy"] == [sid]
    assert [s["id"] for s in client.get(f"{API}/silences").json()["silences"]] == [int(sid)]
    got = client.get(f"/api/v2/silence/{sid}").json()
    assert got["status"] == {"state": "active"} and got["createdBy"] == "amtool-user" and got["comment"] == "deploy"
    assert got["matchers"] == [{"name": "service", "value": "api", "isRegex": False, "isEqual": True}]
    assert [s["id"] for s in client.get("/api/v2/silences", params={"filter": "service=api"}).json()] == [sid]
    assert client.get("/api/v2/silences", params={"filter": "service=db"}).json() == []
    # replacing it (amtool silence update posts it with its id) expires it and makes another
    r = client.post("/api/v2/silences", json=_am_silence(id=sid, comment="longer"))
    new = r.json()["silenceID"]
    assert new != sid and client.get(f"/api/v2/silence/{sid}").json()["status"]["state"] == "expired"
    assert client.delete(f"/api/v2/silence/{new}").status_code == 200
    assert client.get(f"/api/v2/silence/{new}").json()["status"]["state"] == "expired"
    assert client.get("/api/v2/alerts", params={"active": "false"}).json() == []  # woken when it ended


def test_bad_silences_are_alertmanagers_400s_and_404s(client) -> None:  # noqa: ANN001
    for body, field in [([], "body"), ({"startsAt": iso(time.time()), "endsAt": iso(time.time() + 9)}, "matchers"),
                        (_am_silence(endsAt=5), "endsAt"), (_am_silence(startsAt="yesterday"), "startsAt"),
                        (_am_silence(matchers=[]), "a silence needs"),
                        (_am_silence(matchers=[{"name": "x", "value": "(", "isRegex": True}]), "bad regex")]:
        r = client.post("/api/v2/silences", json=body)
        assert r.status_code == 400 and isinstance(r.json(), str) and field in r.json(), (body, r.text)
    for path in ("/api/v2/silence/77", "/api/v2/silence/not-an-id"):
        assert client.get(path).status_code == 404 and isinstance(client.get(path).json(), str)
        assert client.delete(path).status_code == 404
    assert client.post("/api/v2/silences", json=_am_silence(id="12345")).status_code == 404
    assert client.get("/api/v2/silences").json() == []  # nothing stored half-way


def test_replacing_a_silence_with_a_bad_one_keeps_it(client) -> None:  # noqa: ANN001
    """The replaced silence ended before the new one was checked: a bad replacement left nothing muting."""
    sid = client.post("/api/v2/silences", json=_am_silence()).json()["silenceID"]
    bad = _am_silence(id=sid, matchers=[{"name": "service", "value": "(", "isRegex": True}])
    r = client.post("/api/v2/silences", json=bad)
    assert r.status_code == 400 and "bad regex" in r.json()
    assert client.get(f"/api/v2/silence/{sid}").json()["status"]["state"] == "active"
    assert [s["id"] for s in client.get("/api/v2/silences").json()] == [sid]


def test_a_service_filter_matches_the_service_a_silence_matches(client) -> None:  # noqa: ANN001
    """An alert with no ``service`` label has the service its ``job`` names; ``service=billing`` finds it in
    ``amtool alert query`` as it mutes it in ``amtool silence add`` (its labels are shown as sent)."""
    now = time.time()
    r = client.post("/api/v2/alerts", json=[{"labels": {"alertname": "JobOnly", "job": "billing"},
                                             "startsAt": iso(now - 5)}])
    assert r.status_code == 200, r.text
    listed = client.get("/api/v2/alerts", params={"filter": "service=billing"}).json()
    assert [a["labels"] for a in listed] == [{"alertname": "JobOnly", "job": "billing"}]
    assert client.get("/api/v2/alerts", params={"filter": "service=web"}).json() == []
    assert client.get("/api/v2/alerts/groups", params={"filter": "service=billing"}).json()[0]["alerts"]
    r = client.post(f"{API}/silences", json={"matchers": "service=billing", "duration_s": 3600})
    assert r.status_code in (200, 201), r.text
    client.post("/api/v2/alerts", json=[{"labels": {"alertname": "JobOnly2", "job": "billing"},
                                         "startsAt": iso(now - 1)}])
    [muted] = client.get("/api/v2/alerts", params={"filter": "service=billing", "active": "false"}).json()
    assert muted["labels"]["alertname"] == "JobOnly2" and muted["status"]["silencedBy"] == [str(r.json()["id"])]


def test_an_alert_inhibited_into_its_roots_incident_is_listed_inhibited_while_its_source_fires(client) -> None:  # noqa: ANN001
    """An inhibited alert joins its root's incident as evidence (it pages nobody on its own): Alertmanager's
    API shows it ``suppressed`` with its reason in ``inhibitedBy``, so ``amtool alert query`` hides it as
    Alertmanager does, until its source resolves."""
    rule = [{"source_matchers": ['alertname="ClusterDown"'], "target_matchers": ['severity="warning"'],
             "equal": ["cluster"]}]
    assert client.put(f"{API}/inhibit-rules", json=rule).status_code == 200
    t = time.time() - 30
    _post(client, alert("ClusterDown", "k8s", start=t, cluster="eu"))
    _post(client, alert("PodSlow", "k8s", start=t + 1, severity="warning", cluster="eu"))
    pod = client.get(f"{API}/signals", params={"kind": "alert"}).json()["signals"][0]
    assert pod["labels"]["alertname"] == "PodSlow" and pod["incident_id"] is not None and not pod["suppressed"]
    by_name = {a["labels"]["alertname"]: a for a in client.get("/api/v2/alerts").json()}
    assert by_name["PodSlow"]["status"] == {"state": "suppressed", "silencedBy": [],
                                            "inhibitedBy": ["inhibited by rule 0"], "mutedBy": []}
    assert by_name["ClusterDown"]["status"]["state"] == "active"
    names = lambda **q: [a["labels"]["alertname"] for a in client.get("/api/v2/alerts", params=q).json()]  # noqa: E731
    assert names(inhibited="false") == ["ClusterDown"] and names(active="false") == ["PodSlow"]
    _post(client, alert("ClusterDown", "k8s", status="resolved", start=t, end=t + 20, cluster="eu"))
    assert names(inhibited="false") == ["PodSlow"]


def test_amtool_silence_update_keeps_a_maintenance_window_one(client) -> None:  # noqa: ANN001
    """``amtool silence update`` posts the silence back with its id; Alertmanager's shape has no kind, so the
    replacement takes the kind of the one it replaces: a maintenance window stays a maintenance window."""
    r = client.post(f"{API}/silences", json={"matchers": "service=db", "duration_s": 3600, "kind": "maintenance",
                                             "comment": "db upgrade"})
    assert r.status_code in (200, 201), r.text
    old = str(r.json()["id"])
    new = client.post("/api/v2/silences", json=_am_silence(id=old, comment="db upgrade, longer")).json()["silenceID"]
    [listed] = client.get(f"{API}/silences").json()["silences"]
    assert str(listed["id"]) == new and listed["kind"] == "maintenance" and listed["comment"] == "db upgrade, longer"
    plain = client.post("/api/v2/silences", json=_am_silence()).json()["silenceID"]
    assert {s["kind"] for s in client.get(f"{API}/silences").json()["silences"] if str(s["id"]) == plain} == {"silence"}
