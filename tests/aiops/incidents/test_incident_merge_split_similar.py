"""Merge and split by an operator; similar past incidents with their resolution notes."""

from __future__ import annotations

import time

from tests.aiops.ingestion._helpers import API, alert, am_payload, incidents

from opsloop.aiops.incidents.similar import IncidentProfile, rank_similar

AM = API + "/ingest/alertmanager"


def test_merge_and_split(client) -> None:  # noqa: ANN001
    t = time.time()
    client.post(AM, json=am_payload([alert("Down", "db", start=t), alert("Slow", "db", start=t + 1)]))
    client.post(AM, json=am_payload([alert("Errors", "web", start=t + 2000)]))
    by = {i["service"]: i for i in incidents(client)}
    db, web = by["db"]["id"], by["web"]["id"]
    r = client.post(API + "/incidents/merge", json={"target_id": db, "source_ids": [web], "actor": "ann"})
    assert r.status_code == 200, r.text
    merged = r.json()
    assert merged["signal_count"] == 3 and merged["services"] == ["db", "web"]
    source = client.get(f"{API}/incidents/{web}").json()
    assert source["state"] == "resolved" and source["merged_into"] == db and source["signals"] == []
    assert client.post(f"{API}/incidents/{web}/reopen", json={}).status_code == 400
    assert client.post(API + "/incidents/merge", json={"target_id": db, "source_ids": [db]}).status_code == 400
    assert client.post(API + "/incidents/merge", json={"target_id": db, "source_ids": [12345]}).status_code == 404

    detail = client.get(f"{API}/incidents/{db}").json()
    web_sig = [s["id"] for s in detail["signals"] if s["service"] == "web"]
    r = client.post(f"{API}/incidents/{db}/split", json={"signal_ids": web_sig, "actor": "ann"})
    assert r.status_code == 200, r.text
    new = r.json()
    assert new["id"] not in (db, web) and new["service"] == "web" and new["signal_count"] == 1
    assert new["state"] == "triggered"
    assert client.get(f"{API}/incidents/{db}").json()["signal_count"] == 2
    kinds = [e["kind"] for e in client.get(f"{API}/incidents/{db}").json()["timeline"]]
    assert "merge" in kinds and "split" in kinds
    # splitting everything out, or foreign signals, is refused
    all_ids = [s["id"] for s in client.get(f"{API}/incidents/{db}").json()["signals"]]
    assert client.post(f"{API}/incidents/{db}/split", json={"signal_ids": all_ids}).status_code == 400
    assert client.post(f"{API}/incidents/{db}/split", json={"signal_ids": web_sig}).status_code == 400
    # the correlator follows the operator: a new web alert joins the split-out incident
    client.post(AM, json=am_payload([alert("Latency", "web", start=t + 2010)]))
    assert client.get(f"{API}/incidents/{new['id']}").json()["signal_count"] == 2
    audit = client.get(API + "/audit", params={"entity": "incident"}).json()["audit"]
    assert {"merge", "split"} <= {a["action"] for a in audit}


def test_similar_ranking() -> None:
    past = [
        {"id": 1, "title": "PostgresDown: database unreachable [postgres]", "services": ["postgres", "api"],
         "labels": {"alertname": "PostgresDown", "service": "postgres"}, "resolution": "failed over to replica"},
        {"id": 2, "title": "DiskFull on logging [loki]", "services": ["loki"],
         "labels": {"alertname": "DiskFull", "service": "loki"}, "resolution": "expanded volume"},
        {"id": 3, "title": "HighLatency on checkout [checkout]", "services": ["checkout"],
         "labels": {"alertname": "HighLatency"}, "resolution": ""},
    ]
    target = IncidentProfile.of({"id": 9, "title": "PostgresDown: database unreachable [postgres]",
                                 "services": ["postgres"], "labels": {"alertname": "PostgresDown",
                                                                      "service": "postgres"}})
    ranked = rank_similar(target, [IncidentProfile.of(p) for p in past])
    assert ranked[0]["id"] == 1 and ranked[0]["resolution"] == "failed over to replica"
    assert all(r["id"] != 2 for r in ranked)


def test_similar_in_incident_detail(client) -> None:  # noqa: ANN001
    t = time.time() - 10_000
    client.post(AM, json=am_payload([alert("PostgresDown", "postgres", start=t)]))
    [old] = incidents(client)
    client.post(f"{API}/incidents/{old['id']}/comment", json={"text": "replica lag was high before"})
    client.post(f"{API}/incidents/{old['id']}/resolve", json={"actor": "ann", "text": "failed over to the replica"})
    client.post(AM, json=am_payload([alert("KafkaLag", "kafka", start=t + 100)]))
    kafka = next(i for i in incidents(client) if i["service"] == "kafka")
    client.post(f"{API}/incidents/{kafka['id']}/resolve", json={"text": "added partitions"})
    client.post(AM, json=am_payload([alert("PostgresDown", "postgres", start=t, status="resolved")]))
    client.post(AM, json=am_payload([alert("PostgresDown", "postgres", start=time.time())]))
    new = next(i for i in incidents(client, state="triggered"))
    detail = client.get(f"{API}/incidents/{new['id']}").json()
    assert detail["similar"][0]["id"] == old["id"]
    assert detail["similar"][0]["resolution"] == "failed over to the replica"
    assert 0 < detail["similar"][0]["score"] <= 1
    assert all(s["id"] != kafka["id"] for s in detail["similar"])


def test_a_source_named_twice_in_a_merge_is_merged_once(client) -> None:  # noqa: ANN001
    """Two ids picked twice in a UI list, or sent by a script that appends: the merge is the same as with
    each once (it was refused as 'already merged into' the target, by itself)."""
    t = time.time()
    client.post(AM, json=am_payload([alert("Down", "db", start=t)]))
    client.post(AM, json=am_payload([alert("Errors", "web", start=t + 2000)]))
    by = {i["service"]: i["id"] for i in incidents(client)}
    r = client.post(API + "/incidents/merge", json={"target_id": by["db"], "source_ids": [by["web"], by["web"]]})
    assert r.status_code == 200, r.text
    assert r.json()["signal_count"] == 2
    audit = client.get(f"{API}/incidents/{by['db']}/audit").json()["audit"]
    assert [a["data"] for a in audit if a["action"] == "merge"] == [{"sources": [by["web"]]}]


def test_similar_incidents_are_found_by_words_in_any_alphabet() -> None:
    """Alert texts written in Russian, Greek or German: their words count as English ones do (only
    ASCII letters did, so "Ошибка подключения к базе данных" had no words at all)."""
    past = [{"id": 1, "title": "Ошибка подключения к базе данных", "resolution": "перезапуск пула"},
            {"id": 2, "title": "Σφάλμα δίσκου γεμάτος", "resolution": "καθαρισμός"},
            {"id": 3, "title": "Zeitüberschreitung beim Zahlungsdienst", "resolution": "Timeout erhöht"}]
    for wanted, title in ((1, "Ошибка подключения к базе данных: таймаут"), (2, "Σφάλμα δίσκου"),
                          (3, "Zeitüberschreitung Zahlungsdienst")):
        target = IncidentProfile.of({"id": 9, "title": title})
        ranked = rank_similar(target, [IncidentProfile.of(p) for p in past])
        assert [r["id"] for r in ranked] == [wanted], (title, ranked)


def test_a_merge_naming_an_incident_that_does_not_exist_names_the_field(client) -> None:  # noqa: ANN001
    t = time.time()
    client.post(AM, json=am_payload([alert("Down", "db", start=t)]))
    [inc] = incidents(client)
    for body, field in (({"target_id": 4242, "source_ids": [inc["id"]]}, "target_id"),
                        ({"target_id": inc["id"], "source_ids": [4242]}, "source_ids")):
        r = client.post(API + "/incidents/merge", json=body)
        assert r.status_code == 404 and r.json()["field"] == field and "4242" in r.json()["message"], r.text
    assert client.get(f"{API}/incidents/{inc['id']}").json()["merged_into"] is None
