"""The SQL log-template store passes the miner's store contract and serves templates over HTTP."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from opsloop.aiops.logs import LogMiner
from opsloop.aiops.logs.store_contract import check_template_store
from opsloop.runtime import build_runtime
from opsloop.server.app import create_app
from opsloop.settings import load_settings
from opsloop.storage.sql import open_database
from opsloop.storage.sql.log_templates import SqlTemplateStore


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_sql_store_meets_the_template_store_contract(backend: str, tmp_path, request) -> None:  # noqa: ANN001
    urls = iter(range(1000))

    def factory() -> SqlTemplateStore:
        if backend == "sqlite":
            return SqlTemplateStore(open_database(f"sqlite:///{tmp_path / f's{next(urls)}.db'}"))
        return SqlTemplateStore(open_database(request.getfixturevalue("postgres_url")))

    check_template_store(factory)


def test_snapshot_round_trip_keeps_template_ids_across_restarts(tmp_path) -> None:  # noqa: ANN001
    store = SqlTemplateStore(open_database(f"sqlite:///{tmp_path / 'm.db'}"))
    miner = LogMiner(store=store)
    first = miner.add("Connection from 10.0.0.1 closed after 12 ms", service="api").template_id
    miner.add("Connection from 10.0.0.7 closed after 3 ms", service="api")
    miner.flush()
    store.save_snapshot(miner.snapshot())
    reborn = LogMiner.restore(store.load_snapshot(), store=store)
    assert reborn.add("Connection from 10.9.9.9 closed after 99 ms", service="api").template_id == first
    assert store.get(first).count == 2  # the store has what was flushed


def test_templates_api_lists_counts_series_and_examples(tmp_path) -> None:  # noqa: ANN001
    settings = load_settings({"storage": {"data_dir": str(tmp_path)}}, environ={})
    runtime = build_runtime(settings)
    miner = LogMiner(store=runtime.log_templates)
    for i in range(30):
        miner.add(f"GET /items/{i} 200 in {i} ms", service="web", time=1_700_000_000 + i * 60)
    miner.add("disk /dev/sda1 is 91% full", service="node", time=1_700_000_000)
    miner.flush()
    with TestClient(create_app(runtime=runtime)) as http:
        services = http.get("/api/opsloop/v1/logs/services").json()["services"]
        assert [(s["service"], s["templates"], s["lines"]) for s in services] == [("node", 1, 1), ("web", 1, 30)]
        body = http.get("/api/opsloop/v1/logs/templates", params={"service": "web"}).json()
        (tpl,) = body["templates"]
        assert tpl["count"] == 30 and "<*>" in tpl["template"] and tpl["examples"]
        assert sum(n for _, n in tpl["series"]) == 30 and tpl["parameter_examples"]
        assert http.get(f"/api/opsloop/v1/logs/templates/{tpl['id']}").json()["id"] == tpl["id"]
        missing = http.get("/api/opsloop/v1/logs/templates/999999")
        assert missing.status_code == 404 and missing.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
        assert http.get("/api/opsloop/v1/logs/templates", params={"limit": 0}).status_code == 422
    runtime.close()
