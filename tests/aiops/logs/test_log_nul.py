"""A NUL in a log line (a crashed process's half-written buffer, a binary field) is U+FFFD in the record's text
and the template's columns, on both backends: on PostgreSQL, which stores no NUL in text, the whole Loki or
OTLP push was a 500 (no line of it stored) and the line's template could not be saved."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from starlette.testclient import TestClient
from tests.aiops.ingestion._helpers import API, signals
from tests.aiops.ingestion.test_ingest_otlp import logs_json, record

from opsloop.aiops.logs import LogMiner
from opsloop.server.app import create_app
from opsloop.settings import load_settings
from opsloop.storage.sql import open_database
from opsloop.storage.sql.log_templates import SqlTemplateStore

BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


def _url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    return f"sqlite:///{tmp_path / 't.db'}" if backend == "sqlite" else request.getfixturevalue("postgres_url")


@pytest.mark.parametrize("backend", BACKENDS)
def test_lines_with_a_nul_are_stored_and_mined(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    settings = load_settings({"storage": {"data_dir": str(tmp_path), "database_url": _url(backend, tmp_path, request)}},
                             environ={})
    now = time.time_ns()
    loki = {"streams": [{"stream": {"service_name": "disk"},
                         "values": [[str(now), "block 7 written as \x00\x00 by worker 3"], [str(now), "fsync ok"]]}]}
    with TestClient(create_app(settings)) as client:
        assert client.post("/loki/api/v1/push", json=loki).status_code == 204
        r = client.post("/v1/logs", json=logs_json([record("session key \x00 rejected for user 9")], service="auth"))
        assert r.status_code == 200 and r.json() == {}, r.text
        texts = sorted(s["text"] for s in signals(client, kind="log"))
        assert texts == ["block 7 written as \ufffd\ufffd by worker 3", "fsync ok", "session key \ufffd rejected for user 9"]
    with TestClient(create_app(settings)) as client:  # the stop saved the templates
        body = client.get(API + "/logs/templates", params={"q": "\ufffd"}).json()
        assert sorted(t["service"] for t in body["templates"]) == ["auth", "disk"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_template_with_a_nul_is_saved_and_found(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    db = open_database(_url(backend, tmp_path, request))
    store = SqlTemplateStore(db)
    try:
        miner = LogMiner(store=store)
        tid = miner.add("worker \x00 crashed writing block 7", service="w\x00").template_id
        miner.flush()
        assert store.get(tid).text == miner.template(tid).text  # the template itself round-trips
        found, total = store.search(service="w\x00", q="\x00 crashed")
        assert [t.id for t in found] == [tid] and total == 1
        assert [t.id for t in store.list("w\x00")] == [tid] and store.delete_service("w\x00") == 1
    finally:
        db.dispose()
