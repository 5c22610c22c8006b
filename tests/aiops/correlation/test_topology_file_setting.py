"""``topology.file``: the declared topology from a file at every start; a bad file keeps the stored one."""

from __future__ import annotations

import logging
from pathlib import Path

from fastapi.testclient import TestClient

from opsloop.server.app import create_app
from opsloop.settings import load_settings

API = "/api/opsloop/v1"


def _client(data: Path, topology_file: Path | None) -> TestClient:
    doc = {"storage": {"data_dir": str(data)}, "topology": {"file": str(topology_file) if topology_file else ""}}
    return TestClient(create_app(load_settings(doc, environ={})))


def _declared(client: TestClient) -> set[tuple[str, str]]:
    return {(e["source"], e["target"]) for e in client.get(API + "/topology").json()["declared"]}


def test_the_file_replaces_the_declared_topology_at_start_and_a_bad_one_keeps_it(tmp_path, caplog) -> None:  # noqa: ANN001
    data, f = tmp_path / "data", tmp_path / "topology.yaml"
    f.write_text("services:\n  checkout: [payments, postgres]\n")
    with _client(data, f) as c:
        assert _declared(c) == {("checkout", "payments"), ("checkout", "postgres")}
        c.put(API + "/topology", json={"services": {"web": ["api"]}}).raise_for_status()
        assert _declared(c) == {("web", "api")}
    with _client(data, f) as c:  # the file wins again at the next start
        assert _declared(c) == {("checkout", "payments"), ("checkout", "postgres")}
        trail = c.app.state.aiops.stores.incidents.audit_trail("topology")
        assert trail and trail[0]["actor"] == f"topology.file:{f}"
    f.write_text("services: [1, 2]\n")
    with caplog.at_level(logging.ERROR, logger="opsloop.aiops"), _client(data, f) as c:
        assert _declared(c) == {("checkout", "payments"), ("checkout", "postgres")}  # kept
        assert c.get("/health").status_code == 200
    assert any("topology.file" in r.getMessage() and "not used" in r.getMessage() for r in caplog.records)
    with caplog.at_level(logging.ERROR, logger="opsloop.aiops"), _client(data, tmp_path / "missing.yaml") as c:
        assert _declared(c) == {("checkout", "payments"), ("checkout", "postgres")}


def test_a_service_declared_as_depending_on_itself_is_left_out_and_said_so(tmp_path, caplog) -> None:  # noqa: ANN001
    """A self-edge is not an error (topologies exported from traces hold them) but it is not silent either:
    the API answers it as ``ignored`` and a ``topology.file`` logs it; the other edges are kept."""
    data, f = tmp_path / "data", tmp_path / "topology.yaml"
    f.write_text("services:\n  checkout: [checkout, payments]\n")
    with caplog.at_level(logging.WARNING, logger="opsloop.aiops"), _client(data, f) as c:
        assert _declared(c) == {("checkout", "payments")}
        r = c.post(API + "/topology", json={"edges": [{"source": "web", "target": "web"},
                                                      {"source": "web", "target": "checkout"}]})
        assert r.status_code == 200
        assert r.json()["ignored"] == [{"source": "web", "target": "web",
                                        "reason": "a service depending on itself is left out"}]
        assert _declared(c) == {("checkout", "payments"), ("web", "checkout")}
        r = c.put(API + "/topology", json={"services": {"web": ["checkout"]}})
        assert "ignored" not in r.json()
    assert any("checkout" in r.getMessage() and "themselves" in r.getMessage() for r in caplog.records)
