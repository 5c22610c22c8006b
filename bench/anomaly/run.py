"""Metric anomaly detection benchmark on NAB: scorer check, detection scores, throughput, forecasting.

Usage: python bench/anomaly/run.py [DATA_PATH] [--perf]   (default ../shared/datasets/nab)
       --perf runs section 4 only (throughput and memory), e.g. to time two versions in turn.

1. The NAB scorer (nab_scorer.py) re-scores the published numenta and ARTime anomaly-score columns
   at their published thresholds; the max abs difference to the published per-file scores is shown.
2. opsloop's univariate ensemble, one configuration for every file, is scored under the three
   profiles beside numenta and ARTime on the same files (threshold optimised on this corpus for
   all three detectors; the references also at their published full-NAB thresholds).
3. Precision / recall / F1 of the raised signals; 4. throughput and memory per series;
5. forecasting MASE / sMAPE against a seasonal-naive baseline.
"""

from __future__ import annotations

import csv
import sys
import time
from multiprocessing import Pool
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from nab_detect import DETECTOR_CONFIG, detect_file  # noqa: E402
from nab_scorer import (  # noqa: E402
    ScoredFile,
    load_windows,
    normalised,
    prepare_file,
    read_profiles,
    read_series,
    score_file,
    sweep_corpus,
)
from perf import forecast_accuracy, memory_per_series, throughput  # noqa: E402

REFERENCES = ["numenta", "ARTime"]
# Categories looked at while developing the detector; the others are reported as held out.
DEVELOPMENT = ["artificialNoAnomaly", "artificialWithAnomaly", "realKnownCause"]


def _reference(root: Path, det: str, profile: str) -> list[dict[str, str]]:
    with open(root / "reference-results" / det / f"{det}_{profile}_scores.csv") as f:
        return [r for r in csv.DictReader(f) if r["File"] not in ("", "Totals")]


def reference_scores(root: Path, det: str, name: str) -> np.ndarray:
    cat, fn = name.split("/")
    return read_series(root / "reference-results" / det / cat / f"{det}_{fn}", "anomaly_score")[2]


def check_scorer(root: Path, profiles, windows) -> None:
    print("## 1. NAB scorer reproduction (published per-file scores at published thresholds)")
    for det in REFERENCES:
        for pname, cost in profiles.items():
            worst, n = 0.0, 0
            counts_ok = True
            for r in _reference(root, det, pname):
                cat, fn = r["File"].split("/")
                ts, _, s = read_series(
                    root / "reference-results" / det / cat / f"{det}_{fn}", "anomaly_score"
                )
                fs = score_file(
                    prepare_file(r["File"], ts, s, windows[r["File"]], cost), float(r["Threshold"]), cost
                )
                worst = max(worst, abs(fs.score - float(r["Score"])))
                counts_ok &= (fs.tp, fs.fp) == (int(r["TP"]), int(r["FP"]))
                n += 1
            print(
                f"  {det:8s} {pname:20s} files={n:3d} max|score diff|={worst:.2e} TP/FP counts equal={counts_ok}"
            )


def _norm_table(
    title: str, scored: dict[str, dict[str, ScoredFile]], cats: list[str], thresholds, cost
) -> None:
    print(f"\n  {title}")
    groups = {c: [c] for c in cats}
    groups["development (seen)"] = [c for c in cats if c in DEVELOPMENT]
    groups["held out"] = [c for c in cats if c not in DEVELOPMENT]
    groups["all four"] = cats
    print("  " + f"{'files':36s}" + "".join(f"{d:>12s}" for d in scored))
    for label, members in groups.items():
        row = f"  {label:36s}"
        for det, files in scored.items():
            fl = [f for n, f in files.items() if n.split("/")[0] in members]
            raw = sum(score_file(f, thresholds[det], cost).score for f in fl)
            wins = sum(f.n_windows for f in fl)
            row += f"{normalised(raw, fl, cost):12.1f}" if wins else f"{raw:9.2f}raw"
        print(row)


def nab_scores(root: Path, profiles, windows, results) -> dict:
    print("\n## 2. NAB scores (normalised; raw score where a group has no windows)")
    names = sorted(results)
    cats = sorted({n.split("/")[0] for n in names})
    summary = {}
    for pname, cost in profiles.items():
        scored = {
            "opsloop": {n: prepare_file(n, results[n][0], results[n][2], windows[n], cost) for n in names}
        }
        for det in REFERENCES:
            scored[det] = {
                n: prepare_file(n, results[n][0], reference_scores(root, det, n), windows[n], cost)
                for n in names
            }
        opt = {det: sweep_corpus(list(files.values()), cost)[0] for det, files in scored.items()}
        published = {det: float(_reference(root, det, pname)[0]["Threshold"]) for det in REFERENCES}
        print(f"\n### profile {pname}")
        _norm_table("threshold optimised on these files for every detector", scored, cats, opt, cost)
        dev = [f for n, f in scored["opsloop"].items() if n.split("/")[0] in DEVELOPMENT]
        held = [f for n, f in scored["opsloop"].items() if n.split("/")[0] not in DEVELOPMENT]
        dev_thr = sweep_corpus(dev, cost)[0]
        held_raw = sum(score_file(f, dev_thr, cost).score for f in held)
        print(
            f"  opsloop held out, threshold chosen on the development categories only ({dev_thr:.6f}): "
            f"{normalised(held_raw, held, cost):.1f}"
        )
        ref_only = {d: scored[d] for d in REFERENCES}
        _norm_table("references at their published (full-NAB) thresholds", ref_only, cats, published, cost)
        summary[pname] = (scored, opt)
    return summary


def signal_quality(summary, results) -> None:
    print("\n## 3. Raised signals (opsloop, after the probationary period)")
    for label, use_opt in (("alerter threshold only", False), ("standard-profile NAB threshold", True)):
        scored, opt = summary["standard"]
        thr = opt["opsloop"] if use_opt else 0.0
        tp_sig = fp_sig = found = total_w = 0
        for f in scored["opsloop"].values():
            raised = (f.scores > 0) & (f.scores >= thr) & (f.window != -2)
            tp_sig += int((raised & (f.window >= 0)).sum())
            fp_sig += int((raised & (f.window == -1)).sum())
            ids = {int(w) for w in f.window if w >= 0}
            found += sum(bool((raised & (f.window == k)).any()) for k in ids)
            total_w += len(ids)
        prec = tp_sig / max(tp_sig + fp_sig, 1)
        rec = found / max(total_w, 1)
        f1 = 2 * prec * rec / max(prec + rec, 1e-12)
        print(
            f"  {label:32s} signals={tp_sig + fp_sig:4d} in-window={tp_sig:3d} "
            f"windows hit={found}/{total_w} precision={prec:.3f} recall={rec:.3f} F1={f1:.3f}"
        )


def main(argv: list[str]) -> None:
    args = [a for a in argv[1:] if a != "--perf"]
    root = Path(args[0] if args else "../shared/datasets/nab").resolve()
    windows = load_windows(root / "combined_windows.json")
    if "--perf" in argv:
        names = sorted(n for n in windows if (root / "data" / n).exists())
        print("## 4. Throughput and memory (one core)")
        throughput(root, names)
        memory_per_series(root, names)
        return
    profiles = read_profiles(root / "profiles.json")
    t0 = time.perf_counter()
    check_scorer(root, profiles, windows)
    names = sorted(n for n in windows if (root / "data" / n).exists())
    print(f"\n  detector config (one for all files): {DETECTOR_CONFIG}")
    with Pool(2) as pool:
        out = pool.map(detect_file, [root / "data" / n for n in names])
    results = dict(zip(names, out, strict=True))
    summary = nab_scores(root, profiles, windows, results)
    signal_quality(summary, results)
    print("\n## 4. Throughput and memory (one core)")
    throughput(root, names)
    memory_per_series(root, names)
    print("\n## 5. Forecasting (rolling origins in the last half of each file)")
    forecast_accuracy(root, names)
    print(f"\ntotal time {time.perf_counter() - t0:.1f}s")


if __name__ == "__main__":
    main(sys.argv)
