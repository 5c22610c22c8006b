"""Several servers on one PostgreSQL database (each with its own data dir, as on several hosts) run one
AIOps pipeline between them: the one holding the database's advisory lock. The others hand it their
AIOps requests, over its socket on its own host or over the URL it advertises from another host; one
fault alerting through every server opens one incident. A leader that loses its database session
steps down, and when the leader goes another server takes over with the open incident.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import sqlalchemy as sa
from tests.aiops.ingestion._helpers import alert, am_payload
from tests.conftest import ServerProcess, wait_until
from tests.server.test_aiops_workers import (
    API,
    FAULT,
    TOPOLOGY,
    fault_alerts,
    open_incidents,
    post,
    post_alerts,
)

from opsloop.server.aiops.leader import LEADER_LOCK_KEY, LEADER_RECORD

pytestmark = pytest.mark.postgres


@pytest.fixture
def database(postgres_url: str) -> Iterator[sa.Engine]:
    engine = sa.create_engine(postgres_url, poolclass=sa.pool.NullPool)
    yield engine
    engine.dispose()


def _other_host(hostname: str) -> list[str]:
    """A command prefix running a program as on another host: its own UTS namespace, so its own hostname
    (the network is shared, so it reaches the others on loopback); skips where that is not allowed."""
    prefix = ["unshare", "--uts", "sh", "-c", f'hostname {hostname} && exec "$0" "$@"']
    try:
        done = subprocess.run([*prefix, "hostname"], capture_output=True, text=True, timeout=30)
    except OSError:
        pytest.skip("no unshare here")
    if done.returncode != 0 or done.stdout.strip() != hostname:
        pytest.skip(f"cannot run a server under another hostname here: {done.stderr.strip()}")
    return prefix


def _start(server: ServerProcess, postgres_url: str, *extra: str, prefix: Sequence[str] = ()) -> ServerProcess:
    server.extra = ["--database-url", postgres_url, "--advertise-url", server.url, *extra]
    server.prefix = list(prefix)
    return server.start()


@pytest.fixture
def servers(postgres_url: str, tmp_path: Path) -> Iterator[list[ServerProcess]]:
    """Two servers on one host and one database, the first started first (it leads), each advertising
    its URL."""
    started: list[ServerProcess] = []
    try:
        for name in ("a", "b"):
            started.append(_start(ServerProcess(tmp_path / name), postgres_url))
        yield started
    finally:
        for server in started:
            server.stop()


@pytest.fixture
def two_hosts(postgres_url: str, tmp_path: Path) -> Iterator[list[ServerProcess]]:
    """The leader's host runs ``--workers 2``; the other host (its own hostname) one worker."""
    prefix = _other_host("opsloop-host-b")
    started: list[ServerProcess] = []
    try:
        started.append(_start(ServerProcess(tmp_path / "a"), postgres_url, "--workers", "2"))
        started.append(_start(ServerProcess(tmp_path / "b"), postgres_url, prefix=prefix))
        yield started
    finally:
        for server in started:
            server.stop()


def _record(database: sa.Engine) -> dict[str, Any]:
    with database.connect() as conn:
        value = conn.execute(sa.text("SELECT value FROM aiops_config WHERE key = :k"), {"k": LEADER_RECORD}).scalar()
    return orjson.loads(value) if value else {}


def _rewrite_record(database: sa.Engine, **fields: Any) -> None:
    record = _record(database) | fields
    with database.begin() as conn:
        conn.execute(sa.text("UPDATE aiops_config SET value = :v WHERE key = :k"),
                     {"v": json.dumps(record), "k": LEADER_RECORD})


def _lock_holder(database: sa.Engine) -> int | None:
    with database.connect() as conn:
        return conn.execute(sa.text("SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND objid = :k "
                                    "AND granted"), {"k": LEADER_LOCK_KEY}).scalar()


def _status(url: str) -> int:
    return httpx.get(url + API + "/incidents", timeout=30).status_code


def test_one_fault_alerting_through_two_hosts_on_one_database_opens_one_incident(two_hosts, database) -> None:  # noqa: ANN001
    a, b = two_hosts
    record = wait_until(lambda: _record(database).get("pid") and _record(database))
    assert record["url"] == a.url and record["socket"].startswith(str(a.data_dir))
    # from the other host every AIOps request goes to the leader's URL; there it reaches either worker,
    # and the one that does not lead hands it on over the socket
    assert post(b.url, API + "/topology", TOPOLOGY).status_code == 200
    alerts = fault_alerts("HighLatency", 24)
    post_alerts(a.url, alerts[:8])
    post_alerts(b.url, alerts[8:])
    [incident] = open_incidents(a.url)
    assert incident["signal_count"] == len(alerts) and set(incident["services"]) == set(FAULT)
    assert open_incidents(b.url) == [incident]

    # a leader that advertises no URL: the other host says why it cannot reach it, the leader's own
    # host still does (over the socket)
    _rewrite_record(database, url=None)
    wait_until(lambda: _status(b.url) == 503, timeout=30)
    answer = httpx.get(b.url + API + "/incidents", timeout=30)
    assert answer.headers["retry-after"] == "1" and "advertise_url" in answer.json()["message"]
    assert all(_status(a.url) == 200 for _ in range(6))
    _rewrite_record(database, url=a.url)
    wait_until(lambda: _status(b.url) == 200, timeout=30)
    more = [alert(f"Errors{i}", FAULT[i % len(FAULT)], instance=f"e-{i}") for i in range(4)]
    post_alerts(b.url, more)
    [again] = open_incidents(b.url)
    assert again["id"] == incident["id"] and again["signal_count"] == len(alerts) + len(more)


def test_a_leader_that_loses_its_session_steps_down_and_the_next_leader_keeps_the_incident(
        servers, database) -> None:  # noqa: ANN001
    a, b = servers
    wait_until(lambda: _record(database).get("pid"))
    assert post(a.url, API + "/topology", TOPOLOGY).status_code == 200
    alerts = fault_alerts("HighLatency", 8)
    post_alerts(b.url, alerts)
    [incident] = open_incidents(a.url)

    # the leader's session ends (a network cut, a failover) and someone else holds the lock meanwhile:
    # the old leader must stop leading, so both servers answer 503 until a server takes the lock again
    holder = wait_until(lambda: _lock_holder(database))
    with database.connect() as conn:
        conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        # the lock is taken here the moment the session is gone (terminate waits for that); a server asking
        # for it in that instant (once a second each) may win it: then its session is cut in turn
        for _ in range(10):
            assert conn.execute(sa.text("SELECT pg_terminate_backend(:p, 10000)"), {"p": holder}).scalar()
            if conn.execute(sa.text("SELECT pg_try_advisory_lock(:k)"), {"k": LEADER_LOCK_KEY}).scalar():
                break
            holder = wait_until(lambda: _lock_holder(database))
        else:
            raise AssertionError("the servers took the leader lock back every time")
        wait_until(lambda: _status(a.url) == 503 and _status(b.url) == 503, timeout=30)
        time.sleep(1.5)  # more than a follower's poll: still nobody leads while the lock is held here
        assert _status(a.url) == 503 and _status(b.url) == 503
        conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": LEADER_LOCK_KEY})
    wait_until(lambda: _status(a.url) == 200 and _status(b.url) == 200, timeout=60)

    # whoever leads now rebuilt the open incident from the store: the same fault's next alerts join it,
    # through either server
    more = [alert(f"Errors{i}", FAULT[i % len(FAULT)], instance=f"e-{i}") for i in range(4)]
    post_alerts(a.url, more[:2], retry_503=True)
    post_alerts(b.url, more[2:], retry_503=True)
    [again] = open_incidents(b.url)
    assert again["id"] == incident["id"] and again["signal_count"] == len(alerts) + len(more)

    # the leader goes: the other server takes over
    leader = a if _record(database)["url"] == a.url else b
    follower = b if leader is a else a
    leader.stop()
    wait_until(lambda: _record(database).get("url") == follower.url, timeout=60)
    last = alert("Saturation", "db", instance="s-1")
    assert post(follower.url, API + "/ingest/alertmanager", am_payload([last]), retry_503=True).status_code == 200
    [final] = open_incidents(follower.url)
    assert final["id"] == incident["id"]


def test_a_process_of_another_host_posts_its_events_to_the_leaders_url(servers) -> None:  # noqa: ANN001
    """What a follower's own work sends into the pipeline (the model monitoring's drift and health signals,
    ``Leadership.ingest_events``) reaches the leader over its URL from another host."""
    from fastapi import FastAPI

    from opsloop.server.aiops.leader import Leadership

    a, _b = servers
    follower = Leadership(FastAPI(), a.data_dir.parent / "elsewhere", [])
    follower.following, follower.route = True, a.url  # as _find_leader sets it on another host
    event = {"kind": "model_drift", "source": "monitor:drift", "service": "fraud", "severity": "warning",
             "labels": {"model": "fraud", "feature": "amount"}, "text": "amount drifted"}
    follower.ingest_events(json.dumps([event]).encode())
    [signal] = httpx.get(a.url + API + "/signals", params={"kind": "model_drift"}, timeout=30).json()["signals"]
    assert signal["labels"]["feature"] == "amount" and signal["incident_id"] is not None


def test_a_server_whose_stores_are_all_urls_still_makes_its_data_dir_for_the_leaders_socket(
        postgres_url: str, tmp_path: Path) -> None:
    """With both --database-url and --artifact-root, nothing else creates the data dir: the leader could
    not open its socket, and every AIOps request a follower worker took was a 503."""
    (tmp_path / "host").mkdir()  # (where the test keeps the server's log)
    server = ServerProcess(tmp_path / "host" / "data")
    server.extra = ["--database-url", postgres_url, "--artifact-root", str(tmp_path / "artifacts"),
                    "--workers", "2"]
    server.start()
    try:
        server.aiops_ready()
        answers = [httpx.post(server.url + "/api/opsloop/v1/events", json={"text": f"deploy {i}"}, timeout=30)
                   for i in range(12)]  # over a few connections: both workers take some
        assert [r.status_code for r in answers] == [200] * 12, [r.text for r in answers if r.status_code != 200]
        assert (tmp_path / "host" / "data").is_dir()
    finally:
        server.stop()
