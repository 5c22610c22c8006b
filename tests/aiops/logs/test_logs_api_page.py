"""GET /logs/templates answers from SQL: filtered (q), sorted and cut to ``limit`` there, only the page's rows
decoded (it decoded every template, about half a second at 20,000), with the answers it gave before."""

from __future__ import annotations

from pathlib import Path

import pytest
from starlette.testclient import TestClient

from opsloop.aiops.logs.templates import Template
from opsloop.runtime import build_runtime
from opsloop.server.app import create_app
from opsloop.settings import load_settings
from opsloop.storage.sql import open_database
from opsloop.storage.sql.log_templates import SqlTemplateStore

WORDS = ["Überweisung", "disk_full", "50%", "GET", "cache", "Kafka", "retry", "timeout"]


def _templates(n: int) -> list[Template]:
    """``n`` templates of three services, counts with many ties, every seventh merged into another."""
    out = []
    for i in range(1, n + 1):
        words = f"{WORDS[i % len(WORDS)]} {WORDS[(i // 8) % len(WORDS)]} step{i} <*>"
        t = Template(id=i, service=f"svc{i % 3}", tokens=words.split(), count=(i * 37) % 50, first_seen=1.0,
                     last_seen=2.0, examples=[words.replace("<*>", "7")])
        t.merged_into = i - 1 if i % 7 == 0 else None
        out.append(t)
    return out


def _expected(templates: list[Template], service: str | None, q: str | None, limit: int) -> tuple[list[int], int]:
    """The answer as the route computed it in Python before."""
    found = [t for t in templates if t.merged_into is None and (service is None or t.service == service)]
    if q:
        found = [t for t in found if q.lower() in t.text.lower()]
    found.sort(key=lambda t: (-t.count, t.id))
    return [t.id for t in found[:limit]], len(found)


QUERIES = [(None, None, 200), ("svc1", None, 50), (None, "überweisung", 5000), (None, "DISK_", 30),
           (None, "_", 10), (None, "50%", 40), ("svc2", "kafka retry", 3000), (None, "no such text", 10),
           (None, "%", 1)]


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_search_filters_sorts_and_limits_as_the_route_did(backend: str, tmp_path: Path, request) -> None:  # noqa: ANN001
    url = f"sqlite:///{tmp_path / 't.db'}" if backend == "sqlite" else request.getfixturevalue("postgres_url")
    db = open_database(url)
    store = SqlTemplateStore(db)
    templates = _templates(3000)
    store.save_many(templates)
    try:
        for service, q, limit in QUERIES:
            found, total = store.search(service, q, limit)
            assert ([t.id for t in found], total) == _expected(templates, service, q, limit), (service, q, limit)
    finally:
        db.dispose()


def test_templates_api_decodes_only_the_page(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    runtime = build_runtime(load_settings({"storage": {"data_dir": str(tmp_path)}}, environ={}))
    templates = _templates(3000)
    runtime.log_templates.save_many(templates)
    decoded = []
    read = Template.from_dict.__func__  # type: ignore[attr-defined]
    monkeypatch.setattr(Template, "from_dict", classmethod(lambda cls, data: decoded.append(1) or read(cls, data)))
    with TestClient(create_app(runtime=runtime)) as http:
        for service, q, limit in QUERIES:
            params = {k: v for k, v in (("service", service), ("q", q), ("limit", limit)) if v is not None}
            decoded.clear()
            body = http.get("/api/opsloop/v1/logs/templates", params=params).json()
            assert ([t["id"] for t in body["templates"]], body["total"]) == _expected(templates, service, q, limit)
            assert len(decoded) == len(body["templates"]) <= limit
    runtime.close()


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_templates_of_an_older_server_are_found_by_q_after_the_upgrade(backend: str, tmp_path: Path, request) -> None:  # noqa: ANN001
    import json

    import sqlalchemy as sa
    from alembic import command
    from alembic.config import Config

    from opsloop.storage.sql.engine import _MIGRATIONS

    url = f"sqlite:///{tmp_path / 'old.db'}" if backend == "sqlite" else request.getfixturevalue("postgres_url")
    engine = sa.create_engine(url)
    cfg = Config()
    cfg.set_main_option("script_location", str(_MIGRATIONS))
    old = Template(id=4, service="bank", tokens="Überweisung <*> abgelehnt".split(), count=2)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "l001")
        conn.execute(sa.text("INSERT INTO log_templates VALUES (4, 'bank', :t, 1, 2, 1.0, NULL, :d)"),
                     {"t": old.text, "d": json.dumps(old.to_dict())})
    engine.dispose()
    db = open_database(url)
    try:
        found, total = SqlTemplateStore(db).search(q="ÜBERWEISUNG")
        assert [t.id for t in found] == [4] and total == 1
    finally:
        db.dispose()


def test_templates_api_pages_with_offset(tmp_path: Path) -> None:
    """``total`` said how many matched, but only the first 5,000 at most could be read: ``offset`` pages on."""
    runtime = build_runtime(load_settings({"storage": {"data_dir": str(tmp_path)}}, environ={}))
    templates = _templates(700)
    runtime.log_templates.save_many(templates)
    with TestClient(create_app(runtime=runtime)) as http:
        pages = []
        for offset in range(0, 1000, 250):  # 600 live templates: pages of 250, 250, 100 and none
            body = http.get("/api/opsloop/v1/logs/templates", params={"limit": 250, "offset": offset}).json()
            pages.extend(t["id"] for t in body["templates"])
        assert (pages, body["total"]) == _expected(templates, None, None, 5000)
        bad = http.get("/api/opsloop/v1/logs/templates", params={"offset": -1})
        assert bad.status_code == 422 and bad.json()["field"] == "offset"
    runtime.close()
