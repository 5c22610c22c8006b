"""Reading and searching logged models in a store that holds many run metric points.

Usage: python bench/tracking/logged_model_reads.py [--points 500000]

Logs ``--points`` metric points to 50 runs of an embedded SQLite store (none of them a logged model's),
then one point for a logged model, and prints the median time of ``get_logged_model`` and of
``search_logged_models`` with a metric filter, for the code of the checkout the script is in (copy it
into another checkout to compare two versions on the same work).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))

from opsloop.mlops.tracking.entities import Metric  # noqa: E402
from opsloop.storage.sql import open_database  # noqa: E402
from opsloop.storage.sql.tracking import SqlTrackingStore  # noqa: E402


def _median_ms(work: Callable[[], object], repeat: int = 7) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--points", type=int, default=500_000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = open_database(f"sqlite:///{tmp}/store.db")
        store = SqlTrackingStore(db)
        runs = [store.create_run("0", "bench").info.run_id for _ in range(50)]
        per_run, start = args.points // len(runs), time.perf_counter()
        for run_id in runs:
            for first in range(0, per_run, 1000):
                store.log_batch(run_id, metrics=[Metric(f"k{j % 10}", 0.5, 1000 + j, j)
                                                 for j in range(first, min(first + 1000, per_run))])
        written = time.perf_counter() - start
        model = store.create_logged_model("0", "clf", runs[0])
        store.log_batch(runs[0], metrics=[Metric("acc", 0.9, 5, 0, model_id=model.model_id)])
        got = _median_ms(lambda: store.get_logged_model(model.model_id))
        found = _median_ms(lambda: store.search_logged_models(["0"], "metrics.acc > 0.5"))
        print(f"{per_run * len(runs):,} run points written in {written:.2f} s; get_logged_model {got:.2f} ms; "
              f"search_logged_models('metrics.acc > 0.5') {found:.2f} ms")
        db.dispose()


if __name__ == "__main__":
    main()
