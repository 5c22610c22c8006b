"""Debian's Prometheus, Alertmanager and node exporter, started by the tests on loopback only.

Alertmanager's gossip is off (``--cluster.listen-address=``); intervals are a second or so, so a rule
fires, notifies and resolves within seconds.
"""

from __future__ import annotations

import shutil
import subprocess
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from tests.conftest import free_port, wait_http

PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
ALERTMANAGER = shutil.which("prometheus-alertmanager") or "/usr/bin/prometheus-alertmanager"
NODE_EXPORTER = shutil.which("prometheus-node-exporter") or "/usr/bin/prometheus-node-exporter"


def _require(path: str, package: str) -> None:
    if not Path(path).exists():
        pytest.skip(f"{path} is absent: install Debian's {package} (scripts/install-system-deps.sh does)")


@dataclass
class Proc:
    name: str
    args: list[str]
    log: Path
    proc: subprocess.Popen | None = None

    def start(self) -> Proc:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(self.args, stdout=out, stderr=subprocess.STDOUT)
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


@dataclass
class PromStack:
    workdir: Path
    opsloop_url: str
    node_port: int = field(default_factory=free_port)
    am_port: int = field(default_factory=free_port)
    prom_port: int = field(default_factory=free_port)
    procs: dict[str, Proc] = field(default_factory=dict)
    direct: bool = False  # Prometheus posts its alerts to opsloop's Alertmanager API; no Alertmanager runs

    @property
    def prometheus_url(self) -> str:
        return f"http://127.0.0.1:{self.prom_port}"

    @property
    def alertmanager_url(self) -> str:
        return f"http://127.0.0.1:{self.am_port}"

    def start_node_exporter(self) -> None:
        self.procs["node"] = Proc("node", [
            NODE_EXPORTER, f"--web.listen-address=127.0.0.1:{self.node_port}",
            "--collector.disable-defaults", "--collector.loadavg", "--collector.time", "--collector.meminfo",
        ], self.workdir / "node.log").start()
        wait_http(f"http://127.0.0.1:{self.node_port}/metrics", proc=self.procs["node"].proc)

    def stop_node_exporter(self) -> None:
        self.procs.pop("node").stop()

    def start(self) -> PromStack:
        am_dir, prom_dir = self.workdir / "am", self.workdir / "prom"
        am_dir.mkdir()
        prom_dir.mkdir()
        (self.workdir / "alertmanager.yml").write_text(textwrap.dedent(f"""\
            route:
              receiver: opsloop
              group_by: [alertname, job]
              group_wait: 1s
              group_interval: 1s
              repeat_interval: 1h
            receivers:
              - name: opsloop
                webhook_configs:
                  - url: {self.opsloop_url}/api/opsloop/v1/ingest/alertmanager
                    send_resolved: true
            """))
        (self.workdir / "rules.yml").write_text(textwrap.dedent("""\
            groups:
              - name: opsloop-e2e
                interval: 1s
                rules:
                  - alert: NodeExporterDown
                    expr: up{job="node"} == 0
                    for: 2s
                    labels:
                      severity: critical
                      service: node-exporter
                    annotations:
                      summary: "node exporter {{ $labels.instance }} is down"
            """))
        alertmanager = self.opsloop_url.removeprefix("http://") if self.direct else f"127.0.0.1:{self.am_port}"
        (self.workdir / "prometheus.yml").write_text(textwrap.dedent(f"""\
            global:
              scrape_interval: 1s
              scrape_timeout: 1s
              evaluation_interval: 1s
            rule_files: [{self.workdir / 'rules.yml'}]
            alerting:
              alertmanagers:
                - api_version: v2
                  static_configs:
                    - targets: ["{alertmanager}"]
            scrape_configs:
              - job_name: node
                static_configs:
                  - targets: ["127.0.0.1:{self.node_port}"]
            remote_write:
              - url: {self.opsloop_url}/api/v1/write
                queue_config:
                  batch_send_deadline: 1s
                  min_backoff: 100ms
                  max_backoff: 1s
            """))
        self.start_node_exporter()
        if not self.direct:
            self._start_alertmanager(am_dir)
        self.procs["prom"] = Proc("prom", [
            PROMETHEUS, f"--config.file={self.workdir / 'prometheus.yml'}", f"--storage.tsdb.path={prom_dir}",
            f"--web.listen-address=127.0.0.1:{self.prom_port}", "--rules.alert.resend-delay=1s",
            "--rules.alert.for-grace-period=1s",
        ], self.workdir / "prometheus.log").start()
        wait_http(f"{self.prometheus_url}/-/ready", proc=self.procs["prom"].proc)
        return self

    def _start_alertmanager(self, am_dir: Path) -> None:
        self.procs["am"] = Proc("am", [
            ALERTMANAGER, f"--config.file={self.workdir / 'alertmanager.yml'}", f"--storage.path={am_dir}",
            f"--web.listen-address=127.0.0.1:{self.am_port}", "--cluster.listen-address=",
        ], self.workdir / "alertmanager.log").start()
        wait_http(f"{self.alertmanager_url}/-/ready", proc=self.procs["am"].proc)

    def stop(self) -> None:
        for proc in reversed(list(self.procs.values())):
            proc.stop()
        self.procs.clear()

    def logs(self) -> str:
        out = []
        for name in ("node.log", "alertmanager.log", "prometheus.log"):
            path = self.workdir / name
            if path.exists():
                out.append(f"--- {name} ---\n" + path.read_text()[-3000:])
        return "\n".join(out)


@pytest.fixture
def prom_stack(tmp_path: Path, opsloop_server) -> Iterator[tuple[PromStack, str]]:  # noqa: ANN001
    yield from _stack(tmp_path, opsloop_server, direct=False)


@pytest.fixture
def prom_direct(tmp_path: Path, opsloop_server) -> Iterator[tuple[PromStack, str]]:  # noqa: ANN001
    """Prometheus with opsloop as its only Alertmanager (``POST /api/v2/alerts``)."""
    yield from _stack(tmp_path, opsloop_server, direct=True)


def _stack(tmp_path: Path, opsloop_server, direct: bool) -> Iterator[tuple[PromStack, str]]:  # noqa: ANN001
    for path, package in ((PROMETHEUS, "prometheus"), (ALERTMANAGER, "prometheus-alertmanager"),
                          (NODE_EXPORTER, "prometheus-node-exporter")):
        _require(path, package)
    server = opsloop_server()
    stack = PromStack(tmp_path / "stack", server.url, direct=direct)
    stack.workdir.mkdir()
    try:
        stack.start()
        yield stack, server.url
    finally:
        stack.stop()


def wait_for(predicate, timeout: float, what: str, stack: PromStack | None = None, poll: float = 0.25):  # noqa: ANN001, ANN201
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(poll)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; last: {last!r}\n"
                         + (stack.logs() if stack else ""))


def get(url: str, **params) -> dict:  # noqa: ANN003
    r = httpx.get(url, params=params, timeout=10)
    r.raise_for_status()
    return r.json()
