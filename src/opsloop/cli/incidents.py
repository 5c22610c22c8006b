"""``opsloop incidents``: list, show and act on incidents of a running opsloop server."""

from __future__ import annotations

import getpass
import re
import shlex
import time
from collections.abc import Callable
from typing import Any

import click

from opsloop.cli._http import checked_url, server_json
from opsloop.cli._output import emit, fail, printable
from opsloop.errors import OpsloopError

__all__ = ["incidents"]

API = "/api/opsloop/v1/incidents"
_COLUMNS = ["id", "state", "severity", "service", "signals", "title", "assignee", "updated"]


def _when(t: float | None) -> str:
    if not t:
        return ""
    try:
        return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(t))
    except (OverflowError, OSError, ValueError):  # past what the platform's clock can write (year 1e292)
        return f"{t:.6g}"


def _call(ctx: click.Context, method: str, path: str, **kwargs: Any) -> Any:
    try:
        return server_json(ctx.obj["url"], method, path, **kwargs)
    except OpsloopError as exc:
        fail(exc.message)


def _echo(text: str, err: bool = False) -> None:
    """A line holding server data (alert texts, names, runbook output), control characters made visible."""
    click.echo(printable(text), err=err)


def _output(ctx: click.Context, incident: dict[str, Any], as_json: bool) -> None:
    if as_json:
        emit([incident], [], as_json=True)
        return
    _echo(f"#{incident['id']} {incident['state']} {incident['severity']}: {incident['title']}")


def _actor_options(command: Callable[..., Any]) -> Callable[..., Any]:
    command = click.option("--json", "as_json", is_flag=True, help="Print JSON.")(command)
    return click.option("--actor", default=None, help="Who does it (default: your user name).")(command)


DEFAULT_URL = "http://127.0.0.1:5000"


@click.group("incidents")
@click.option("--url", envvar="OPSLOOP_URL", default=None, metavar="URL", callback=checked_url,
              help=f"The opsloop server (or set OPSLOOP_URL; default {DEFAULT_URL}).")
@click.pass_context
def incidents(ctx: click.Context, url: str | None) -> None:
    """Incidents: list, show, ack, resolve, comment, assign, severity, merge, split, runbook runs, silences,
    notifications."""
    ctx.obj = {"url": _server_url(ctx, url)}


def _server_url(ctx: click.Context, url: str | None) -> str:
    """A ``--url`` flag (this group's, then the top-level one), then OPSLOOP_URL, then the top-level
    option's environment when it names an http(s) server (MLFLOW_TRACKING_URI may be a store path)."""
    from click.core import ParameterSource

    parent = ctx.parent
    parent_url = getattr(parent.obj, "url", None) if parent is not None else None
    if parent_url and ctx.get_parameter_source("url") != ParameterSource.COMMANDLINE and \
            parent is not None and parent.get_parameter_source("url") == ParameterSource.COMMANDLINE:
        return str(parent_url)
    if url:
        return url
    if parent_url and str(parent_url).startswith(("http://", "https://")):
        return str(parent_url)
    return DEFAULT_URL


@incidents.command("list")
@click.option("--state", help="triggered, acknowledged, resolved (comma-separated).")
@click.option("--severity", help="info, warning, error, critical (comma-separated).")
@click.option("--service")
@click.option("--assignee", help="Only incidents assigned to this person.")
@click.option("-q", "--query", "q", help="Text in title, labels or resolution.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 500))
@click.option("--offset", default=0, type=click.IntRange(0))
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def list_(ctx: click.Context, as_json: bool, **filters: Any) -> None:
    """List incidents, most recently active first."""
    params = {k: v for k, v in filters.items() if v is not None}
    body = _call(ctx, "GET", API, params=params)
    if as_json:
        click.echo(__import__("json").dumps(body, indent=2))
        return
    rows = [{"id": i["id"], "state": i["state"], "severity": i["severity"], "service": i["service"],
             "signals": i["signal_count"], "title": i["title"], "assignee": i["assignee"],
             "updated": _when(i["updated_at"])} for i in body["incidents"]]
    emit(rows, _COLUMNS, as_json=False, title=f"{len(rows)} of {body['total']} incidents")


@incidents.command("show")
@click.argument("incident_id", type=int)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def show(ctx: click.Context, incident_id: int, as_json: bool) -> None:
    """One incident: its timeline, grouping reasons, probable root causes and similar past incidents."""
    inc = _call(ctx, "GET", f"{API}/{incident_id}")
    if as_json:
        click.echo(__import__("json").dumps(inc, indent=2))
        return
    _echo(f"#{inc['id']} [{inc['state']}] {inc['severity']}  {inc['title']}")
    flags = f"   flags: {', '.join(inc['flags'])}" if inc.get("flags") else ""
    merged = f"   merged into #{inc['merged_into']}" if inc.get("merged_into") else ""
    resolved = f"   resolved: {_when(inc['resolved_at'])}" if inc.get("resolved_at") else ""
    _echo(f"services: {', '.join(inc['services']) or '-'}   assignee: {inc['assignee'] or '-'}   "
          f"signals: {inc['signal_count']}   opened: {_when(inc['created_at'])}{resolved}{flags}{merged}")
    if inc.get("resolution"):
        _echo(f"resolution: {inc['resolution']}")
    emit([{"time": _when(e["time"]), "kind": e["kind"], "actor": e["actor"], "text": e["text"]}
          for e in inc["timeline"]], ["time", "kind", "actor", "text"], as_json=False, title="timeline")
    for g in inc["grouping_reasons"][:20]:
        _echo(f"  {g.get('service') or '-'}: {g.get('text', '')} ← {'; '.join(g.get('reasons', []))}")
    if inc.get("root_causes"):
        emit([{"rank": i, "service": c["service"], "score": c["score"], "why": "; ".join(c["reasons"])}
              for i, c in enumerate(inc["root_causes"], 1)], ["rank", "service", "score", "why"], as_json=False,
             title="probable root causes")
    if inc["similar"]:
        emit([{"id": s["id"], "score": s["score"], "title": s["title"], "resolution": s["resolution"]}
              for s in inc["similar"]], ["id", "score", "title", "resolution"], as_json=False,
             title="similar past incidents")


def _action(name: str, doc: str) -> None:
    @incidents.command(name, help=doc)
    @click.argument("incident_id", type=int)
    @click.option("-m", "--text", default="", help="A note (for resolve: the resolution).")
    @_actor_options
    @click.pass_context
    def command(ctx: click.Context, incident_id: int, text: str, actor: str | None, as_json: bool) -> None:
        inc = _call(ctx, "POST", f"{API}/{incident_id}/{name}", json={"actor": actor or getpass.getuser(),
                                                                      "text": text})
        _output(ctx, inc, as_json)


_action("ack", "Acknowledge an incident.")
_action("unack", "Take back an acknowledgement (the incident is triggered again).")
_action("resolve", "Resolve an incident (-m gives the resolution note).")
_action("reopen", "Reopen a resolved incident.")


@incidents.command("comment")
@click.argument("incident_id", type=int)
@click.argument("text")
@_actor_options
@click.pass_context
def comment(ctx: click.Context, incident_id: int, text: str, actor: str | None, as_json: bool) -> None:
    """Add a comment to an incident's timeline."""
    _output(ctx, _call(ctx, "POST", f"{API}/{incident_id}/comment",
                       json={"actor": actor or getpass.getuser(), "text": text}), as_json)


@incidents.command("assign")
@click.argument("incident_id", type=int)
@click.argument("assignee")
@_actor_options
@click.pass_context
def assign(ctx: click.Context, incident_id: int, assignee: str, actor: str | None, as_json: bool) -> None:
    """Assign an incident ("" unassigns)."""
    _output(ctx, _call(ctx, "POST", f"{API}/{incident_id}/assign",
                       json={"actor": actor or getpass.getuser(), "assignee": assignee}), as_json)


@incidents.command("severity")
@click.argument("incident_id", type=int)
@click.argument("level")
@_actor_options
@click.pass_context
def severity(ctx: click.Context, incident_id: int, level: str, actor: str | None, as_json: bool) -> None:
    """Set an incident's severity: info, warning, error or critical."""
    _output(ctx, _call(ctx, "POST", f"{API}/{incident_id}/severity",
                       json={"actor": actor or getpass.getuser(), "severity": level}), as_json)


@incidents.command("merge")
@click.argument("target_id", type=int)
@click.argument("source_ids", type=int, nargs=-1, required=True)
@_actor_options
@click.pass_context
def merge(ctx: click.Context, target_id: int, source_ids: tuple[int, ...], actor: str | None, as_json: bool) -> None:
    """Merge SOURCE_IDS into TARGET_ID."""
    _output(ctx, _call(ctx, "POST", f"{API}/merge", json={
        "target_id": target_id, "source_ids": list(source_ids), "actor": actor or getpass.getuser()}), as_json)


@incidents.command("split")
@click.argument("incident_id", type=int)
@click.argument("signal_ids", type=int, nargs=-1, required=True)
@_actor_options
@click.pass_context
def split(ctx: click.Context, incident_id: int, signal_ids: tuple[int, ...], actor: str | None, as_json: bool) -> None:
    """Move SIGNAL_IDS out of INCIDENT_ID into a new incident."""
    _output(ctx, _call(ctx, "POST", f"{API}/{incident_id}/split", json={
        "signal_ids": list(signal_ids), "actor": actor or getpass.getuser()}), as_json)


@incidents.command("topology")
@click.argument("path", type=click.Path(exists=True, dir_okay=False), required=False)
@click.option("--add", is_flag=True, help="Add the edges instead of replacing the declared topology.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def topology(ctx: click.Context, path: str | None, add: bool, as_json: bool) -> None:
    """Show the service dependency graph (declared, seen in traces, learned), or declare it from the
    YAML or JSON file PATH."""
    if path is None:
        body = _call(ctx, "GET", "/api/opsloop/v1/topology")
    else:
        from pathlib import Path

        import yaml

        try:
            doc = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        except UnicodeDecodeError as exc:
            fail(f"{path} is not UTF-8 text: {exc}")
        except yaml.YAMLError as exc:
            fail(f"{path} is not YAML or JSON: {exc}")
        body = _call(ctx, "POST" if add else "PUT", "/api/opsloop/v1/topology", json=doc)
    if as_json:
        click.echo(__import__("json").dumps(body, indent=2))
        return
    if path is None:
        rows = ([{"service": e["source"], "depends on": e["target"], "from": "declared"} for e in body["declared"]]
                + [{"service": e["source"], "depends on": e["target"], "from": f"traces ({e['calls']} calls)"}
                   for e in body.get("traced", [])]
                + [{"service": e["a"], "depends on": f"↔ {e['b']}", "from": f"learned (strength {e['strength']})"}
                   for e in body["learned"]])
        emit(rows, ["service", "depends on", "from"], as_json=False, title="service dependencies")
    _echo(f"{len(body['declared'])} declared dependencies, {len(body.get('traced', []))} seen in traces, "
          f"{len(body['learned'])} learned links")
    for edge in body.get("ignored", []):
        _echo(f"left out: {edge['source']} -> {edge['target']} ({edge['reason']})", err=True)


_MATCHER = re.compile(r"^\s*([a-zA-Z_][a-zA-Z0-9_.]*)\s*(=~|!~|!=|=)\s*(.*?)\s*$", re.S)
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


class Duration(click.ParamType):
    """``90``, ``90s``, ``30m``, ``2h``, ``1d`` or ``1w``, as seconds."""

    name = "duration"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        if isinstance(value, int | float):
            return float(value)
        m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*", str(value))
        if not m or float(m.group(1)) <= 0:
            self.fail(f"{value!r} is not a duration like 30m, 2h or 1d", param, ctx)
        return float(m.group(1)) * _UNITS[m.group(2)]


def _matcher(arg: str) -> str:
    """``service=db`` as ``service="db"`` (amtool's shorthand); an already quoted value is kept."""
    from opsloop.aiops.correlation.silences import Matcher

    m = _MATCHER.match(arg)
    if not m or m.group(3).startswith('"'):
        return arg
    return str(Matcher(m.group(1), m.group(2), m.group(3)))  # its text form quotes and escapes the value


@incidents.command("silence")
@click.argument("matchers", nargs=-1, required=True)
@click.option("--for", "duration", type=Duration(), default="2h", show_default=True,
              help="How long: 30m, 2h, 1d…")
@click.option("--maintenance", is_flag=True, help="A planned maintenance window rather than an ad hoc silence.")
@click.option("-m", "--comment", default="", help="Why (shown to everyone).")
@_actor_options
@click.pass_context
def silence(ctx: click.Context, matchers: tuple[str, ...], duration: float, maintenance: bool, comment: str,
            actor: str | None, as_json: bool) -> None:
    """Mute the signals MATCHERS select (``alertname=DiskFull``, ``service=~"db|cache"``) for a while."""
    body = _call(ctx, "POST", "/api/opsloop/v1/silences", json={
        "matchers": [_matcher(m) for m in matchers], "duration_s": duration, "comment": comment,
        "kind": "maintenance" if maintenance else "silence", "created_by": actor or getpass.getuser()})
    if as_json:
        click.echo(__import__("json").dumps(body, indent=2))
        return
    _echo(f"{body['kind']} #{body['id']} ({', '.join(body['matchers'])}) is {body['state']} "
          f"until {_when(body['ends_at'])} UTC")


@incidents.command("silences")
@click.option("--all", "include_ended", is_flag=True, help="Ended ones too.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def silences(ctx: click.Context, include_ended: bool, as_json: bool) -> None:
    """Silences and maintenance windows not yet ended (``--all``: every one)."""
    body = _call(ctx, "GET", "/api/opsloop/v1/silences", params={"all": "true"} if include_ended else {})
    rows = [{"id": s["id"], "state": s["state"], "kind": s["kind"], "matchers": ", ".join(s["matchers"]),
             "from": _when(s["starts_at"]), "until": _when(s["ends_at"]), "by": s["created_by"],
             "comment": s["comment"]} for s in body["silences"]]
    emit(body["silences"] if as_json else rows, ["id", "state", "kind", "matchers", "from", "until", "by", "comment"],
         as_json=as_json, title=f"{len(rows)} silence{'' if len(rows) == 1 else 's'}")


@incidents.command("unsilence")
@click.argument("silence_id", type=int)
@click.pass_context
def unsilence(ctx: click.Context, silence_id: int) -> None:
    """Expire a silence now."""
    _call(ctx, "DELETE", f"/api/opsloop/v1/silences/{silence_id}")
    _echo(f"silence #{silence_id} expired")


_NOTIFICATION_COLUMNS = ["id", "target", "incident", "event", "state", "attempts", "when", "error"]


@incidents.command("notifications")
@click.option("--state", help="pending, delivered, dead, superseded (comma-separated).")
@click.option("--incident", "incident_id", type=int, help="Only this incident's notifications.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 1000))
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def notifications(ctx: click.Context, state: str | None, incident_id: int | None, limit: int, as_json: bool) -> None:
    """The notification outbox, newest first: what was delivered, what waits for a retry, the dead letters."""
    params = {k: v for k, v in {"state": state, "incident_id": incident_id, "limit": limit}.items() if v is not None}
    rows = _call(ctx, "GET", "/api/opsloop/v1/notifications", params=params)["notifications"]
    if as_json:
        click.echo(__import__("json").dumps(rows, indent=2))
        return
    emit([{"id": n["id"], "target": n["target"], "incident": n["incident_id"] or "", "event": n["event"],
           "state": n["state"], "attempts": n["attempts"],
           "when": _when(n["delivered_at"] if n["state"] == "delivered" else n["next_attempt_at"]),
           "error": n["last_error"][:80]} for n in rows], _NOTIFICATION_COLUMNS, as_json=False,
         title=f"{len(rows)} notification{'' if len(rows) == 1 else 's'}")


@incidents.command("replay")
@click.argument("notification_ids", type=int, nargs=-1)
@click.option("--all", "replay_all", is_flag=True, help="Every dead letter.")
@click.option("--actor", default=None, help="Who does it (default: your user name).")
@click.pass_context
def replay(ctx: click.Context, notification_ids: tuple[int, ...], replay_all: bool, actor: str | None) -> None:
    """Send dead letters again (NOTIFICATION_IDS, or --all), once their target is back."""
    if bool(notification_ids) == replay_all:
        fail("give the ids of the dead letters to replay, or --all")
    body = {"actor": actor or getpass.getuser(), **({"ids": list(notification_ids)} if notification_ids else {})}
    out = _call(ctx, "POST", "/api/opsloop/v1/notifications/replay", json=body)
    superseded = (f"; {out['superseded']} superseded (a later event of their incident reached the target: "
                  "sent now they would arrive out of order)" if out["superseded"] else "")
    _echo(f"{out['replayed']} dead letter{'' if out['replayed'] == 1 else 's'} queued again{superseded}")


_RUN_COLUMNS = ["id", "runbook", "incident", "trigger", "state", "exit", "candidate", "created", "error"]
_FINAL_RUN_STATES = ("succeeded", "failed", "gate_failed")


def _run_row(r: dict[str, Any]) -> dict[str, Any]:
    return {"id": r["id"], "runbook": r["runbook"], "incident": r["incident_id"], "trigger": r["trigger"],
            "state": r["state"], "exit": "" if r["exit_code"] is None else r["exit_code"],
            "candidate": r["candidate_version"] or "", "created": _when(r["created_at"]),
            "error": (r["error"] or _gate_failure(r))[:80]}


def _gate_failure(run: dict[str, Any]) -> str:
    """Why a ``gate_failed`` run's candidate was refused (its error is empty: nothing went wrong): the
    rules it failed, from its gate's verdict."""
    validation = run.get("validation")
    if run.get("state") != "gate_failed" or not isinstance(validation, dict):
        return ""
    failed = [str(r.get("rule")) + ("" if r.get("status") == "failed" else f" ({r.get('status')})")
              for r in validation.get("rules") or [] if r.get("status") not in ("passed", "skipped")]
    return "gate failed: " + ("; ".join(failed) if failed else "the candidate was not promoted")


@incidents.command("runbook")
@click.argument("incident_id", type=int)
@click.argument("name")
@click.option("--wait", is_flag=True, help="Wait for the run to finish; exit 1 unless it succeeded.")
@click.option("--timeout", default=3600.0, show_default=True, help="With --wait: give up after this many seconds.")
@_actor_options
@click.pass_context
def runbook(ctx: click.Context, incident_id: int, name: str, wait: bool, timeout: float, actor: str | None,
            as_json: bool) -> None:
    """Run runbook NAME on incident INCIDENT_ID (queued; the server runs it in the background)."""
    from urllib.parse import quote

    run = _call(ctx, "POST", f"{API}/{incident_id}/runbooks/{quote(name, safe='')}",
                json={"actor": actor or getpass.getuser()})["run"]
    deadline = time.monotonic() + timeout
    while wait and run["state"] not in _FINAL_RUN_STATES and time.monotonic() < deadline:
        time.sleep(1.0)
        run = _call(ctx, "GET", f"/api/opsloop/v1/runbooks/runs/{run['id']}")["run"]
    if as_json:
        click.echo(__import__("json").dumps(run, indent=2))
    else:
        _echo(f"run #{run['id']} of runbook {run['runbook']!r} on incident #{incident_id}: {run['state']}")
        for line in _gate_lines(run.get("validation")):
            _echo(line)
        if wait and run["output"]:
            _echo(run["output"].rstrip())
        if run["error"]:
            _echo(f"error: {run['error']}", err=True)
    if wait and run["state"] not in _FINAL_RUN_STATES:
        _echo(f"run #{run['id']} is still {run['state']} after {timeout:g} s (it goes on on the server); "
              f"follow it with: opsloop incidents runs {incident_id} --runbook {shlex.quote(run['runbook'])}",
              err=True)
    if wait and run["state"] != "succeeded":
        raise SystemExit(1)


def _gate_lines(validation: Any) -> list[str]:
    """A retrain's gate, one line per rule (why a candidate failed is in them, not in the program's output)."""
    if not isinstance(validation, dict) or not validation.get("rules"):
        return []

    def num(v: Any) -> str:
        return "—" if v is None else f"{v:.4g}" if isinstance(v, int | float) else str(v)

    verdict, alias = "passed" if validation.get("passed") else "failed", validation.get("alias", "champion")
    champion = validation.get("champion_version")
    head = (f"gate {verdict} against version {champion} (@{alias}):" if champion else
            f"gate {verdict} (no @{alias} yet: rules against it were skipped):")
    return [head] + [f"  {r.get('status', '?'):8} {r.get('rule')}: candidate {num(r.get('candidate'))}, "
                     f"bound {num(r.get('bound'))}{' — ' + r['note'] if r.get('note') else ''}"
                     for r in validation["rules"]]


@incidents.command("runs")
@click.argument("incident_id", type=int, required=False)
@click.option("--state", help="queued, running, succeeded, failed, gate_failed (comma-separated).")
@click.option("--runbook", "runbook_name", help="Only this runbook's runs.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 1000))
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def runs(ctx: click.Context, incident_id: int | None, state: str | None, runbook_name: str | None, limit: int,
         as_json: bool) -> None:
    """Runbook runs (of one incident when INCIDENT_ID is given), newest first."""
    params = {k: v for k, v in {"incident_id": incident_id, "state": state, "runbook": runbook_name,
                                "limit": limit}.items() if v is not None}
    body = _call(ctx, "GET", "/api/opsloop/v1/runbooks/runs", params=params)
    if as_json:
        click.echo(__import__("json").dumps(body, indent=2))
        return
    emit([_run_row(r) for r in body["runs"]], _RUN_COLUMNS, as_json=False, title=f"{len(body['runs'])} runbook runs")
