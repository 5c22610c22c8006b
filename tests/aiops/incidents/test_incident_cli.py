"""``opsloop incidents`` against a running server."""

from __future__ import annotations

import json
import subprocess

import httpx
from tests.aiops.ingestion._helpers import API, alert, am_payload
from tests.conftest import OPSLOOP_BIN


def run(url: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([OPSLOOP_BIN, "incidents", "--url", url, *args], capture_output=True, text=True,
                          timeout=60)


def test_cli_topology_file(server, tmp_path) -> None:  # noqa: ANN001
    f = tmp_path / "topology.yaml"
    f.write_text("services:\n  checkout: [payments]\n  payments: [postgres]\n")
    out = run(server.url, "topology", str(f))
    assert out.returncode == 0, out.stderr
    assert "2 declared dependencies" in out.stdout
    extra = tmp_path / "more.json"
    extra.write_text('{"edges": [{"source": "cart", "target": "redis"}, {"source": "cart", "target": "cart"}]}')
    added = run(server.url, "topology", str(extra), "--add")
    assert "3 declared" in added.stdout
    assert "left out: cart -> cart (a service depending on itself is left out)" in added.stderr
    shown = run(server.url, "topology")
    assert shown.returncode == 0, shown.stderr
    assert "service dependencies" in shown.stdout and "3 declared dependencies, 0 seen in traces" in shown.stdout
    assert [[c.strip() for c in line.split("│")[1:4]] for line in shown.stdout.splitlines() if "cart" in line] == [
        ["cart", "redis", "declared"]]
    bad = tmp_path / "bad.yaml"
    bad.write_text("services: [1, 2]")
    assert run(server.url, "topology", str(bad)).returncode == 1


def test_cli_round_trip(server) -> None:  # noqa: ANN001
    httpx.post(server.url + API + "/ingest/alertmanager",
               json=am_payload([alert("Down", "db"), alert("Slow", "db")])).raise_for_status()
    httpx.post(server.url + API + "/ingest/alertmanager",
               json=am_payload([alert("Errors", "web", start=__import__("time").time() + 2000)])).raise_for_status()
    out = run(server.url, "list", "--json")
    assert out.returncode == 0, out.stderr
    body = json.loads(out.stdout)
    assert body["total"] == 2
    ids = {i["service"]: i["id"] for i in body["incidents"]}
    table = run(server.url, "list")
    assert "db" in table.stdout and "2 of 2 incidents" in table.stdout
    assert run(server.url, "ack", str(ids["db"]), "--actor", "ann").stdout.startswith(f"#{ids['db']} acknowledged")
    assert run(server.url, "comment", str(ids["db"]), "disk full on primary").returncode == 0
    assert run(server.url, "assign", str(ids["db"]), "bob").returncode == 0
    shown = run(server.url, "show", str(ids["db"]))
    assert "timeline" in shown.stdout and "disk full on primary" in shown.stdout
    detail = json.loads(run(server.url, "show", str(ids["db"]), "--json").stdout)
    assert detail["assignee"] == "bob" and detail["state"] == "acknowledged"
    mine = json.loads(run(server.url, "list", "--assignee", "bob", "--json").stdout)
    assert [i["id"] for i in mine["incidents"]] == [ids["db"]]
    assert json.loads(run(server.url, "list", "--assignee", "carol", "--json").stdout)["total"] == 0
    sig = [s["id"] for s in detail["signals"]][:1]
    split = run(server.url, "split", str(ids["db"]), str(sig[0]), "--json")
    new_id = json.loads(split.stdout)[0]["id"]
    merged = run(server.url, "merge", str(ids["db"]), str(new_id), str(ids["web"]), "--json")
    assert json.loads(merged.stdout)[0]["signal_count"] == 3
    resolved = run(server.url, "resolve", str(ids["db"]), "-m", "grew the volume")
    assert "resolved" in resolved.stdout
    bad = run(server.url, "ack", str(ids["db"]))
    assert bad.returncode == 1 and "cannot ack" in bad.stderr
    assert run(server.url, "show", "999").returncode == 1
    assert run("http://127.0.0.1:1", "list").returncode == 1


def test_cli_silences(server) -> None:  # noqa: ANN001
    out = run(server.url, "silence", "alertname=DiskFull", 'service=~"db|cache"', "--for", "90m",
              "-m", "disk swap", "--actor", "ann")
    assert out.returncode == 0, out.stderr
    assert 'silence #1 (alertname="DiskFull", service=~"db|cache") is active until' in out.stdout
    body = httpx.post(server.url + API + "/ingest/alertmanager", json=am_payload([alert("DiskFull", "cache")])).json()
    assert body["suppressed"] == 1 and not body["incidents_opened"]
    listed = json.loads(run(server.url, "silences", "--json").stdout)
    assert [s["id"] for s in listed] == [1] and listed[0]["created_by"] == "ann"
    assert listed[0]["ends_at"] - listed[0]["starts_at"] == 5400
    assert "disk swap" in run(server.url, "silences").stdout
    assert run(server.url, "unsilence", "1").returncode == 0
    assert json.loads(run(server.url, "silences", "--json").stdout) == []
    assert len(json.loads(run(server.url, "silences", "--all", "--json").stdout)) == 1
    bad = run(server.url, "silence", "alertname=X", "--for", "soon")
    assert bad.returncode == 2 and "not a duration" in bad.stderr
    bad = run(server.url, "silence", "not a matcher")
    assert bad.returncode == 1 and "cannot parse matcher" in bad.stderr and "Traceback" not in bad.stderr
    assert run(server.url, "unsilence", "99").returncode == 1


def test_the_url_given_on_the_command_line_wins_over_the_environment(monkeypatch) -> None:  # noqa: ANN001
    """``opsloop --url X incidents …`` goes to X even when OPSLOOP_URL names another server (a flag beats
    the environment, as for every other command); ``incidents --url`` beats both."""
    from opsloop.cli import main

    asked: list[str] = []

    def answer(method: str, url: str, **kwargs: object) -> httpx.Response:
        asked.append(url.split("/api/")[0])
        return httpx.Response(200, json={"incidents": [], "total": 0})

    monkeypatch.setattr(httpx, "request", answer)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("OPSLOOP_URL", "http://from-env:1")
    for argv in (["--url", "http://flag:2", "incidents", "list", "--json"],
                 ["incidents", "list", "--json"],
                 ["--url", "http://flag:2", "incidents", "--url", "http://inner:3", "list", "--json"]):
        assert main(argv) == 0
    assert asked == ["http://flag:2", "http://from-env:1", "http://inner:3"]
    monkeypatch.delenv("OPSLOOP_URL")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:///mlflow.db")  # a store for mlflow, not a server
    assert main(["incidents", "list", "--json"]) == 0
    assert asked[-1] == "http://127.0.0.1:5000"


def test_times_out_of_the_clocks_range_print_without_a_traceback(monkeypatch, capsys) -> None:  # noqa: ANN001
    """A silence stored before its end was bounded (ends_at 1e300) is listed, not a crash."""
    from opsloop.cli import main

    silence = {"id": 1, "state": "active", "kind": "silence", "matchers": ['service="db"'], "starts_at": 1.7e9,
               "ends_at": 1e300, "created_by": "ann", "comment": "forever"}
    monkeypatch.setattr(httpx, "request", lambda *a, **k: httpx.Response(200, json={"silences": [silence]}))
    assert main(["incidents", "--url", "http://server:1", "silences"]) == 0
    assert "forever" in capsys.readouterr().out


def test_a_url_that_is_not_an_opsloop_server_is_a_message_not_a_traceback(monkeypatch, capsys) -> None:  # noqa: ANN001
    """http:// redirected to https:// by a proxy, or a web page answering 200: a message and exit 1."""
    from opsloop.cli import main

    answers = {"http://redirected": httpx.Response(301, headers={"location": "https://redirected/api/x"}),
               "http://web-page": httpx.Response(200, text="<html>hello</html>")}
    monkeypatch.setattr(httpx, "request", lambda method, url, **k: answers[url.split("/api/")[0]])
    assert main(["incidents", "--url", "http://redirected", "list"]) == 1
    err = capsys.readouterr().err
    assert "error:" in err and "https://redirected/api/x" in err and "Traceback" not in err
    assert main(["incidents", "--url", "http://web-page", "show", "3"]) == 1
    err = capsys.readouterr().err
    assert "not JSON" in err and "http://web-page" in err and "Traceback" not in err


def test_show_says_when_an_incident_is_flapping_or_was_merged(server) -> None:  # noqa: ANN001
    """What changes how an incident behaves is in ``show``'s header: flapping (its auto-resolve is held) and the
    incident it was merged into (its signals are there now)."""
    t0 = __import__("time").time() - 600
    url = server.url + API + "/ingest/alertmanager"
    for i in range(5):  # fires and resolves again and again: flapping after four changes
        start = t0 + i * 60
        httpx.post(url, json=am_payload([alert("Flappy", "flap", start=start)])).raise_for_status()
        httpx.post(url, json=am_payload([alert("Flappy", "flap", status="resolved", start=start, end=start + 30)],
                                        status="resolved")).raise_for_status()
    httpx.post(url, json=am_payload([alert("Down", "db", start=t0 + 400)])).raise_for_status()
    by_service = {i["service"]: i for i in json.loads(run(server.url, "list", "--json").stdout)["incidents"]}
    flappy, db = by_service["flap"]["id"], by_service["db"]["id"]
    assert by_service["flap"]["flags"] == ["flapping"]
    assert "flags: flapping" in run(server.url, "show", str(flappy)).stdout.splitlines()[1]
    assert "flags" not in run(server.url, "show", str(db)).stdout.splitlines()[1]
    assert run(server.url, "merge", str(flappy), str(db)).returncode == 0
    assert f"merged into #{flappy}" in run(server.url, "show", str(db)).stdout.splitlines()[1]


def test_a_gate_without_a_champion_says_so_in_plain_words() -> None:
    from opsloop.cli.incidents import _gate_lines

    rule = {"status": "passed", "rule": "accuracy >= 0.8", "candidate": 0.91, "bound": 0.8}
    first = _gate_lines({"passed": True, "champion_version": None, "alias": "champion", "rules": [rule]})
    assert first[0] == "gate passed (no @champion yet: rules against it were skipped):"
    later = _gate_lines({"passed": False, "champion_version": "3", "alias": "champion", "rules": [rule]})
    assert later[0] == "gate failed against version 3 (@champion):"
    assert later[1] == "  passed   accuracy >= 0.8: candidate 0.91, bound 0.8"
