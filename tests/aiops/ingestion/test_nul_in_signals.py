"""A NUL in an alert's or event's labels or text (a binary field copied into an annotation) is U+FFFD, on both
backends: on PostgreSQL, which stores no NUL in text, the whole batch was a 500 and none of it was stored."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from starlette.testclient import TestClient
from tests.aiops.ingestion._helpers import API, signals

from opsloop.server.app import create_app
from opsloop.settings import load_settings

BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.mark.parametrize("backend", BACKENDS)
def test_nul_in_labels_and_text_is_stored_as_replacement_character(backend: str, tmp_path: Path,
                                                                  request: pytest.FixtureRequest) -> None:
    url = f"sqlite:///{tmp_path / 't.db'}" if backend == "sqlite" else request.getfixturevalue("postgres_url")
    settings = load_settings({"storage": {"data_dir": str(tmp_path), "database_url": url}}, environ={})
    now = time.time()
    alert = {"version": "4", "status": "firing", "receiver": "opsloop", "groupKey": "{}:{}", "alerts": [{
        "status": "firing", "labels": {"alertname": "DiskBad", "service": "st\x00ore", "dev\x00ice": "sda"},
        "annotations": {"summary": "sector \x00 unreadable"},
        "startsAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now - 5)), "fingerprint": "f1"}]}
    event = {"events": [{"kind": "event", "service": "api\x00", "text": "rolled \x00 out", "labels": {"v": "1\x002"}}]}
    with TestClient(create_app(settings)) as client:
        r = client.post(API + "/ingest/alertmanager", json=alert)
        assert r.status_code == 200, r.text
        r = client.post(API + "/events", json=event)
        assert r.status_code in (200, 202), r.text
        stored = signals(client)
    by_kind = {s["kind"]: s for s in stored}
    assert set(by_kind) >= {"alert", "event"}, stored
    assert by_kind["alert"]["service"] == "st\ufffdore"
    assert by_kind["alert"]["labels"]["dev\ufffdice"] == "sda"
    assert "\x00" not in str(stored)
    assert by_kind["event"]["service"] == "api\ufffd" and by_kind["event"]["text"] == "rolled \ufffd out"
    assert by_kind["event"]["labels"]["v"] == "1\ufffd2"
