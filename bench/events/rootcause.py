"""Root-cause ranking: is the service a fault started at ranked first among its incident's services?

Usage:
    python bench/events/rootcause.py [SEED ...] [--services 30] [--hours 6] [--fault-every-min 10]
                                     [--noise-every-min 10] [--root-delay-s 0] [--json out.json]

The same simulation as ``replay.py`` (a layered service topology, faults that cascade up the callers
with delays and jitter, background noise), replayed through opsloop's real decoder and pipeline with
the declared topology. Then, for every incident whose alerts come from at least two services, the
ground truth is the root service of the fault most of its alerts came from, and each ranking is scored:
top-1 and top-3 accuracy and the mean reciprocal rank (MRR) of the true root among the incident's
services, side by side with two baselines on the same incidents: the service that alerted first, and
the service with the most alerts. Reported over all those incidents (a root that did not alert in the
incident, its alerts grouped elsewhere, is a miss for every ranking) and over those whose root alerted
in them (the ranking's own error, without the grouping's).

In the simulation a fault's own alerts fire first, so "first to alert" is nearly an oracle there. With
``--root-delay-s S`` the faulty service's own alerts come up to S seconds later (its alert rules wait
longer, a ``for:`` of minutes on "service down" against one on "high latency"), as they often do.

The simulator marks a fault's own alerts ``critical`` and its symptoms ``warning``; no ranking here
reads severity (opsloop's does not use it), so that shortcut is not measured.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from replay import Alert, Pipeline, run_opsloop, simulate  # noqa: E402


def _rank(ranking: list[str], truth: str) -> int | None:
    return ranking.index(truth) + 1 if truth in ranking else None


def evaluate(alerts: list[Alert], edges: list[tuple[str, str]] | None) -> dict[str, dict[str, float]]:
    """Top-1, top-3 and MRR of opsloop's ranking and the baselines over the multi-service incidents."""
    by_labels = {tuple(sorted(a.labels.items())): a for a in alerts}
    results: dict[str, list[tuple[int | None, bool]]] = {"opsloop": [], "first to alert": [], "most alerts": []}

    def inspect(pipeline: Pipeline) -> None:
        for inc in pipeline.stores.incidents.list(limit=100_000)[0]:
            signals = pipeline.stores.signals.list(incident_id=inc["id"], limit=100_000, ascending=True)
            services = {s["service"] for s in signals}
            if len(services) < 2:
                continue
            faults = Counter(by_labels[tuple(sorted(s["labels"].items()))].truth for s in signals)
            fault = faults.most_common(1)[0][0]
            roots = {a.root for a in alerts if a.truth == fault}
            if not roots or not next(iter(roots)):
                continue  # background noise grouped with something: no root to find
            truth = next(iter(roots))
            ranked = [c["service"] for c in pipeline.root_causes(inc, signals)]
            onset: dict[str, float] = {}
            count: Counter = Counter()
            for s in signals:
                onset[s["service"]] = min(onset.get(s["service"], s["time"]), s["time"])
                count[s["service"]] += 1
            present = truth in services
            results["opsloop"].append((_rank(ranked, truth), present))
            results["first to alert"].append((_rank(sorted(onset, key=lambda x: (onset[x], x)), truth), present))
            results["most alerts"].append((_rank(sorted(count, key=lambda x: (-count[x], onset[x], x)), truth),
                                           present))

    run_opsloop(alerts, edges, inspect)
    return {name: _summary(ranks) for name, ranks in results.items()}


def _summary(ranked: list[tuple[int | None, bool]]) -> dict[str, float]:
    out: dict[str, float] = {}
    for suffix, ranks in (("", [r for r, _ in ranked]), ("_present", [r for r, present in ranked if present])):
        n = len(ranks)
        out |= {f"incidents{suffix}": n,
                f"top1{suffix}": sum(r == 1 for r in ranks) / n if n else 0.0,
                f"top3{suffix}": sum(r is not None and r <= 3 for r in ranks) / n if n else 0.0,
                f"mrr{suffix}": sum(1.0 / r for r in ranks if r) / n if n else 0.0}
    return out


def _print(figures: dict[str, dict[str, float]]) -> None:
    print(f"  {'':16s} {'all incidents':>28s}   {'root alerted in the incident':>28s}")
    for name, f in figures.items():
        print(f"  {name:16s} top-1 {f['top1']:.3f} top-3 {f['top3']:.3f} MRR {f['mrr']:.3f}   "
              f"top-1 {f['top1_present']:.3f} top-3 {f['top3_present']:.3f} MRR {f['mrr_present']:.3f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("seeds", nargs="*", type=int, default=[1, 2, 3, 4, 5])
    ap.add_argument("--services", type=int, default=30)
    ap.add_argument("--hours", type=float, default=6.0)
    ap.add_argument("--fault-every-min", type=float, default=10.0)
    ap.add_argument("--noise-every-min", type=float, default=10.0)
    ap.add_argument("--root-delay-s", type=float, default=0.0,
                    help="the faulty service's own alerts come up to this much later")
    ap.add_argument("--no-topology", action="store_true",
                    help="replay with no declared topology (what the correlator learns, and time)")
    ap.add_argument("--json", help="write the figures to this file")
    args = ap.parse_args()
    per_seed = []
    for seed in args.seeds:
        _, edges, alerts = simulate(seed, args.services, args.hours, args.fault_every_min, args.noise_every_min,
                                    root_delay_s=args.root_delay_s)
        figures = evaluate(alerts, None if args.no_topology else edges)
        per_seed.append(figures)
        f = figures["opsloop"]
        print(f"seed {seed}: {len(alerts)} alerts, {f['incidents']} incidents spanning two or more services, "
              f"the root alerted in {f['incidents_present']}")
        _print(figures)
    print(f"mean over seeds {args.seeds} (root delay up to {args.root_delay_s:.0f}s):")
    keys = [k for k in per_seed[0]["opsloop"] if not k.startswith("incidents")]
    mean = {name: {k: statistics.mean(s[name][k] for s in per_seed) for k in keys} for name in per_seed[0]}
    _print(mean)
    if args.json:
        Path(args.json).write_text(json.dumps({"seeds": args.seeds, "per_seed": per_seed, "mean": mean}, indent=2))


if __name__ == "__main__":
    main()
