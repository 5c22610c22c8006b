"""Pulling from Debian's Prometheus behind basic authentication (its ``--web.config.file``): with the
right credentials the samples arrive; with wrong ones the query's status names the refusal."""

from __future__ import annotations

import textwrap
from pathlib import Path

import httpx
import pytest
from tests.aiops.e2e.conftest import PROMETHEUS, Proc, _require, get, wait_for
from tests.conftest import free_port, wait_http

pytestmark = [pytest.mark.prometheus, pytest.mark.timeout(180)]

API = "/api/opsloop/v1"
# bcrypt of "pull-s3cret" (cost 4, for speed), as Prometheus' web config wants it
HASH = "$2b$04$u/d56YH3bRJA4RFPwObDO.jJ6m2TY4.PgE8bGH.Dcr3NFjg/.LnHm"


def test_pull_from_a_prometheus_behind_basic_auth(opsloop_server, tmp_path: Path) -> None:  # noqa: ANN001
    _require(PROMETHEUS, "prometheus")
    port = free_port()
    (tmp_path / "web.yml").write_text(f"basic_auth_users:\n  opsloop: '{HASH}'\n")
    (tmp_path / "prometheus.yml").write_text(textwrap.dedent("""\
        global:
          scrape_interval: 1s
        scrape_configs: []
        """))
    prom = Proc("prom", [PROMETHEUS, f"--config.file={tmp_path / 'prometheus.yml'}",
                         f"--storage.tsdb.path={tmp_path / 'data'}", f"--web.listen-address=127.0.0.1:{port}",
                         f"--web.config.file={tmp_path / 'web.yml'}"], tmp_path / "prometheus.log").start()
    try:
        url = f"http://127.0.0.1:{port}"
        wait_http(url + "/-/ready", proc=prom.proc)
        assert httpx.get(url + "/api/v1/query", params={"query": "1"}).status_code == 401  # auth is on
        server = opsloop_server()
        r = httpx.put(server.url + API + "/aiops/config/prometheus_queries", json=[
            {"name": "answer", "url": url, "query": "vector(42)", "interval_s": 1, "step_s": 1, "lookback_s": 30,
             "basic_auth": {"username": "opsloop", "password": "pull-s3cret"}},
            {"name": "wrong", "url": url, "query": "vector(1)", "interval_s": 1, "step_s": 1, "lookback_s": 30,
             "basic_auth": {"username": "opsloop", "password": "guess"}}])
        assert r.status_code == 200, r.text
        assert "pull-s3cret" not in r.text

        def pulled() -> dict | None:
            status = {q["name"]: q for q in get(server.url + API + "/aiops/prometheus")["queries"]}
            ok = status.get("answer", {}).get("pulled", 0) > 0 and status.get("wrong", {}).get("error")
            return status if ok else None

        status = wait_for(pulled, 60, "a pull with and a pull without the right credentials")
        assert status["answer"]["error"] is None
        assert "refused the credentials (HTTP 401)" in status["wrong"]["error"]
        assert status["wrong"]["pulled"] == 0
        (series,) = get(server.url + API + "/metrics/series", name="answer")["series"]
        points = get(server.url + API + "/metrics/points", series=series["series"])["points"]
        assert points and all(p[1] == 42.0 for p in points)
    finally:
        prom.stop()
