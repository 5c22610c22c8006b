"""Noise reduction and grouping quality: a simulated service topology, cascading faults, background noise.

Usage:
    python bench/events/replay.py [SEED ...] [--services 30] [--hours 6] [--fault-every-min 10]
                                  [--noise-every-min 10] [--max-instances 3]
                                  [--noise one-off|recurring] [--flaky-checks 6] [--json out.json]

The simulator builds a layered service dependency graph (edge a -> b: a calls b), injects faults at
random services and times; a fault makes its service alert (several alert names, several instances)
and cascades up the callers with a delay per hop (each caller affected with a probability that falls
with the distance), with jitter on every alert. Unrelated background alerts fire on random services: by default each is
a one-off with its own cause (``--noise one-off``); with ``--noise recurring`` they come from a few
flaky checks (``--flaky-checks``, each a fixed alert on one instance) that fire again and again for a
few minutes at a time, at the same overall rate, and every firing of one check has that one cause.
Every alert carries the labels a real one would (alertname, service, instance, severity, cluster) and
nothing else: the fault it came from (the ground truth) stays in the harness and is only used to
score the result.

The alerts go, in event-time order and in 10-second batches as Alertmanager would post them,
through opsloop's real decoder and pipeline on a temporary embedded store, and through two
Alertmanager-style baselines that group by ``alertname`` and by ``service`` (a group lives while
any of its alerts is firing, plus a 5-minute resolve timeout). Reported per system: incidents,
compression (1 - incidents/alerts) and pairwise precision, recall and F1 of the grouping against
the faults. opsloop runs twice: with the declared topology, and with no topology at all (grouping
on time, labels and co-occurrence learned online from the same stream).
"""

from __future__ import annotations

import argparse
import json
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "src"))

from opsloop.aiops.ingestion.alertmanager import decode_alertmanager  # noqa: E402
from opsloop.aiops.ingestion.normalise import Decoded, Limits  # noqa: E402
from opsloop.aiops.pipeline import Pipeline  # noqa: E402
from opsloop.storage.sql.engine import open_database  # noqa: E402
from opsloop.storage.sql.incidents import AiopsStores  # noqa: E402

ROOT_CAUSE = ["ServiceDown", "HighErrorRate", "PodCrashLooping", "DBConnectionsExhausted", "DiskPressure"]
SYMPTOMS = ["HighLatency", "HighErrorRate", "UpstreamTimeouts"]
NOISE = ["CertificateExpiresSoon", "DiskSpaceLow", "PodRestarted", "CPUThrottling", "NTPDrift", "BackupLate"]
BATCH_S = 10.0
RESOLVE_TIMEOUT_S = 300.0


@dataclass
class Alert:
    t: float
    end: float
    labels: dict[str, str]
    truth: str
    root: str = ""  # the service the fault started at (ground truth of root-cause ranking)


def topology(rng: random.Random, n: int) -> tuple[list[str], list[tuple[str, str]]]:
    layers = [("web", max(2, n // 6)), ("api", max(3, n // 3)), ("svc", max(3, n // 3)), ("db", 0)]
    layers[-1] = ("db", n - sum(k for _, k in layers[:-1]))
    names = [[f"{p}-{i}" for i in range(k)] for p, k in layers]
    edges = set()
    for upper, lower in zip(names, names[1:], strict=False):
        for s in upper:
            for t in rng.sample(lower, rng.randint(1, min(3, len(lower)))):
                edges.add((s, t))
    # occasional skip-level calls (an api reading a db directly)
    for s in names[1]:
        if rng.random() < 0.3:
            edges.add((s, rng.choice(names[3])))
    services = [s for layer in names for s in layer]
    return services, sorted(edges)


def _fault(rng: random.Random, t: float, t0: float, truth: str, services: list[str],
           callers: dict[str, list[str]], instances: dict[str, int], root_delay_s: float = 0.0) -> list[Alert]:
    """The alerts of one fault: its service's, then its callers' up to 3 hops, with delays and jitter;
    the service's own alerts come up to ``root_delay_s`` later (its alert rules wait longer)."""
    out: list[Alert] = []
    weights = [1 + 2 * (s.startswith("db") or s.startswith("svc")) for s in services]
    root = rng.choices(services, weights)[0]
    duration = rng.uniform(300, 1500)
    late = rng.uniform(0, root_delay_s) if root_delay_s > 0 else 0.0  # no draw by default: same streams
    for name in rng.sample(ROOT_CAUSE, rng.randint(1, 3)):
        for i in range(instances[root]):
            if rng.random() < 0.85:
                out.append(Alert(t0 + t + late + abs(rng.gauss(0, 20)), t0 + t + duration + rng.uniform(0, 120),
                                 {"alertname": name, "service": root, "instance": f"{root}-{i}",
                                  "severity": "critical", "cluster": "prod"}, truth, root))
    frontier, seen = [(root, 0)], {root}
    while frontier:
        svc, hop = frontier.pop(0)
        if hop >= 3:
            continue
        for caller in callers.get(svc, []):
            if caller in seen or rng.random() > 0.85 ** (hop + 1):
                continue
            seen.add(caller)
            delay = (hop + 1) * rng.uniform(20, 60)
            for name in rng.sample(SYMPTOMS, rng.randint(1, 2)):
                for i in range(instances[caller]):
                    if rng.random() < 0.8:
                        out.append(Alert(t0 + t + delay + abs(rng.gauss(0, 25)),
                                         t0 + t + duration + delay + rng.uniform(0, 180),
                                         {"alertname": name, "service": caller, "instance": f"{caller}-{i}",
                                          "severity": "warning", "cluster": "prod"}, truth, root))
            frontier.append((caller, hop + 1))
    return out


def _background(rng: random.Random, horizon: float, t0: float, every_min: float, services: list[str],
                instances: dict[str, int]) -> list[Alert]:
    """One-off background alerts: each on a random instance, for 1-60 min, with its own cause."""
    out: list[Alert] = []
    t, j = rng.expovariate(1.0 / (every_min * 60)), 0
    while t <= horizon:
        j += 1
        svc = rng.choice(services)
        out.append(Alert(t0 + t, t0 + t + rng.uniform(60, 3600),
                         {"alertname": rng.choice(NOISE), "service": svc,
                          "instance": f"{svc}-{rng.randrange(instances[svc])}",
                          "severity": rng.choice(["info", "warning"]), "cluster": "prod"}, f"noise-{j}"))
        t += rng.expovariate(1.0 / (every_min * 60))
    return out


def _flaky(rng: random.Random, horizon: float, t0: float, every_min: float, services: list[str],
           instances: dict[str, int], checks: int) -> list[Alert]:
    """Recurring background alerts: ``checks`` flaky checks (a fixed alert on one instance each); at
    the same overall rate as one-off noise, a random check fires for 1-5 min; one cause per check."""
    defs = []
    for _ in range(checks):
        svc = rng.choice(services)
        defs.append({"alertname": rng.choice(NOISE), "service": svc,
                     "instance": f"{svc}-{rng.randrange(instances[svc])}",
                     "severity": rng.choice(["info", "warning"]), "cluster": "prod"})
    out: list[Alert] = []
    t = rng.expovariate(1.0 / (every_min * 60))
    while t <= horizon:
        k = rng.randrange(checks)
        out.append(Alert(t0 + t, t0 + t + rng.uniform(60, 300), dict(defs[k]), f"flaky-{k + 1}"))
        t += rng.expovariate(1.0 / (every_min * 60))
    return out


def simulate(seed: int, n_services: int, hours: float, fault_every: float, noise_every: float,
             max_instances: int = 3, noise: str = "one-off", flaky_checks: int = 6, root_delay_s: float = 0.0
             ) -> tuple[list[str], list[tuple[str, str]], list[Alert]]:
    rng = random.Random(seed)
    services, edges = topology(rng, n_services)
    callers: dict[str, list[str]] = defaultdict(list)
    for a, b in edges:
        callers[b].append(a)
    instances = {s: rng.randint(1, max_instances) for s in services}
    horizon = hours * 3600.0
    t0 = 1_700_000_000.0 + seed * 1_000_000
    alerts: list[Alert] = []
    t, k = rng.expovariate(1.0 / (fault_every * 60)), 0
    while t <= horizon:
        k += 1
        alerts.extend(_fault(rng, t, t0, f"fault-{k}", services, callers, instances, root_delay_s))
        t += rng.expovariate(1.0 / (fault_every * 60))
    if noise == "recurring":
        alerts.extend(_flaky(rng, horizon, t0, noise_every, services, instances, flaky_checks))
    else:
        alerts.extend(_background(rng, horizon, t0, noise_every, services, instances))
    alerts.sort(key=lambda a: a.t)
    return services, edges, _as_alertmanager_sees_them(alerts)


def _as_alertmanager_sees_them(alerts: list[Alert]) -> list[Alert]:
    """An alert is its label set: one that is still firing when a second fault would fire it again is
    the same alert (it lasts longer), attributed to the fault that fired it first."""
    out: list[Alert] = []
    firing: dict[tuple, Alert] = {}
    for a in alerts:
        key = tuple(sorted(a.labels.items()))
        cur = firing.get(key)
        if cur is not None and a.t <= cur.end:
            cur.end = max(cur.end, a.end)
            continue
        firing[key] = a
        out.append(a)
    return out


def _iso(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int((t % 1) * 1e6):06d}Z"


def _payload(alerts: list[tuple[int, Alert]], status: str) -> bytes:
    """An Alertmanager webhook body: the alerts' own labels, nothing of the ground truth."""
    return orjson.dumps({"version": "4", "status": status, "receiver": "opsloop", "groupLabels": {},
                         "commonLabels": {}, "commonAnnotations": {}, "externalURL": "", "alerts": [{
                             "status": status, "labels": a.labels,
                             "annotations": {"summary": f"{a.labels['alertname']} on {a.labels['instance']}"},
                             "startsAt": _iso(a.t), "endsAt": _iso(a.end) if status == "resolved"
                             else "0001-01-01T00:00:00Z"} for i, a in alerts]})


def run_opsloop(alerts: list[Alert], edges: list[tuple[str, str]] | None,
                inspect: Callable[[Pipeline], None] | None = None) -> list[str]:
    """Cluster id per alert, as opsloop groups them (alerts it kept out of any incident are singletons);
    ``inspect`` is given the pipeline after the replay."""
    with tempfile.TemporaryDirectory() as tmp:
        db = open_database(f"sqlite:///{tmp}/replay.db")
        pipeline = Pipeline(AiopsStores(db), mine_logs=False)
        pipeline.load()
        if edges:
            pipeline.set_topology(edges, actor="replay")
        events: list[tuple[float, int, str]] = []
        for i, a in enumerate(alerts):
            events.append((a.t, i, "firing"))
            events.append((a.end, i, "resolved"))
        events.sort()
        limits = Limits(max_future_skew_s=1e12, max_past_s=1e12)
        k = 0
        while k < len(events):
            window_end = events[k][0] + BATCH_S
            batch: dict[str, list[tuple[int, Alert]]] = {"firing": [], "resolved": []}
            while k < len(events) and events[k][0] < window_end:
                _, i, status = events[k]
                batch[status].append((i, alerts[i]))
                k += 1
            for status in ("resolved", "firing"):  # alerts last longer than a batch: ends first
                if batch[status]:
                    decoded: Decoded = decode_alertmanager(_payload(batch[status], status), limits, window_end)
                    pipeline.ingest(decoded, now=window_end)
            pipeline.engine.correlator.expire()
        if inspect is not None:
            inspect(pipeline)
        path = f"{tmp}/replay.db"
        db.dispose()
        con = sqlite3.connect(path)
        rows = con.execute("SELECT labels, time, incident_id FROM aiops_signals WHERE kind = 'alert'").fetchall()
        con.close()
    # map stored alerts back to the replay's by labels and start time (an exact duplicate folds, as it should)
    stored: dict[tuple, list[tuple[float, int | None]]] = defaultdict(list)
    for labels, t, incident in rows:
        stored[tuple(sorted(orjson.loads(labels).items()))].append((t, incident))
    out = []
    for i, a in enumerate(alerts):
        t, incident = min(stored[tuple(sorted(a.labels.items()))], key=lambda row: abs(row[0] - a.t))
        assert abs(t - a.t) < 0.01, "every replayed alert is stored"
        out.append(f"incident-{incident}" if incident is not None else f"alone-{i}")
    return out


def run_alertmanager(alerts: list[Alert], key: str) -> list[str]:
    """Alertmanager's aggregation groups: one per value of ``key`` while any of its alerts is active."""
    out, open_groups, counter = [], {}, 0
    for a in alerts:
        value = a.labels[key]
        group = open_groups.get(value)
        if group is None or group[1] + RESOLVE_TIMEOUT_S < a.t:
            counter += 1
            group = open_groups[value] = [f"{key}-{counter}", a.end]
        group[1] = max(group[1], a.end)
        out.append(group[0])
    return out


def score(pred: list[str], truth: list[str]) -> dict[str, float]:
    def pairs(counter: Counter) -> int:
        return sum(n * (n - 1) // 2 for n in counter.values())

    tp = pairs(Counter(zip(pred, truth, strict=True)))
    pp, tt = pairs(Counter(pred)), pairs(Counter(truth))
    p = tp / pp if pp else 1.0
    r = tp / tt if tt else 1.0
    incidents = len(set(pred))
    return {"incidents": incidents, "alerts_per_incident": len(pred) / incidents,
            "compression": 1 - incidents / len(pred), "precision": p, "recall": r,
            "f1": 2 * p * r / (p + r) if p + r else 0.0}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("seeds", nargs="*", type=int, default=[1])
    ap.add_argument("--services", type=int, default=30)
    ap.add_argument("--hours", type=float, default=6.0)
    ap.add_argument("--fault-every-min", type=float, default=10.0)
    ap.add_argument("--noise-every-min", type=float, default=10.0)
    ap.add_argument("--max-instances", type=int, default=3, help="replicas per service: 1 to this")
    ap.add_argument("--noise", choices=["one-off", "recurring"], default="one-off",
                    help="background alerts: one-off, each its own cause; or recurring flaky checks")
    ap.add_argument("--flaky-checks", type=int, default=6, help="with --noise recurring: how many checks")
    ap.add_argument("--root-delay-s", type=float, default=0.0,
                    help="the faulty service's own alerts come up to this much later (rules with a long for:)")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    results: dict[str, list[dict[str, float]]] = defaultdict(list)
    for seed in args.seeds:
        services, edges, alerts = simulate(seed, args.services, args.hours, args.fault_every_min,
                                           args.noise_every_min, args.max_instances, args.noise,
                                           args.flaky_checks, args.root_delay_s)
        truth = [a.truth for a in alerts]
        started = time.perf_counter()
        systems = {
            "opsloop (declared topology)": run_opsloop(alerts, edges),
            "opsloop (no topology: learned only)": run_opsloop(alerts, None),
            "Alertmanager group_by alertname": run_alertmanager(alerts, "alertname"),
            "Alertmanager group_by service": run_alertmanager(alerts, "service"),
        }
        ideal = score(truth, truth)
        faults = sum(1 for x in set(truth) if x.startswith("fault"))
        print(f"seed {seed}: {len(services)} services, {len(edges)} dependencies, {faults} faults, "
              f"{len(alerts)} alerts ({sum(1 for x in truth if not x.startswith('fault'))} background), "
              f"ideal compression {ideal['compression']:.1%}  [{time.perf_counter() - started:.1f}s]")
        for name, pred in systems.items():
            s = score(pred, truth)
            results[name].append(s)
            print(f"  {name:38s} incidents {s['incidents']:4d}  alerts/incident {s['alerts_per_incident']:5.1f}  "
                  f"compression {s['compression']:6.1%}  precision {s['precision']:.3f}  recall {s['recall']:.3f}  "
                  f"F1 {s['f1']:.3f}")
    if len(args.seeds) > 1:
        print(f"mean over seeds {args.seeds}:")
        for name, rows in results.items():
            mean = {k: statistics.mean(r[k] for r in rows) for k in rows[0]}
            print(f"  {name:38s} compression {mean['compression']:6.1%}  precision {mean['precision']:.3f}  "
                  f"recall {mean['recall']:.3f}  F1 {mean['f1']:.3f}")
    if args.json:
        args.json.write_text(json.dumps({"args": vars(args) | {"json": str(args.json)}, "results": results},
                                        indent=2))


if __name__ == "__main__":
    main()
