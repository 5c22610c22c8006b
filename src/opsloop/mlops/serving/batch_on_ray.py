"""Batch scoring on Ray Data: a dataset too big for one machine, scored by model replicas on a cluster.

The model is loaded once where the command runs and shipped to each replica (Ray serialises it), so
the workers need neither the registry nor the artifact store; they need to read the input and write
the output (local paths on a one-machine Ray, shared storage such as ``s3://`` on a cluster).
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from opsloop.errors import InvalidInputError, MissingDependencyError, NotFoundError
from opsloop.mlops.serving.batch import BatchStats, score_batch

if TYPE_CHECKING:
    from opsloop.mlops.serving.loading import LoadedModel

__all__ = ["predict_on_ray"]


class _Scorer:
    """One model replica: scores the blocks Ray hands it, with the kept columns in front."""

    def __init__(self, model: LoadedModel, keep: list[str], prediction_column: str) -> None:
        self.model, self.keep, self.prediction_column = model, keep, prediction_column

    def __call__(self, block: pa.Table) -> pa.Table:
        batches = [batch for batch in block.to_batches() if batch.num_rows]
        if not batches:  # an empty input file: nothing to score, nothing to write
            return pa.table({name: block.column(name) for name in self.keep})
        out = pa.concat_tables([score_batch(self.model, batch, self.prediction_column) for batch in batches])
        for name in reversed(self.keep):
            out = out.add_column(0, name, block.column(name))
        return out


def _read(ray_data: Any, input_path: str) -> Any:
    local = "://" not in input_path
    if local and not os.path.exists(input_path):
        raise NotFoundError(f"input {input_path} does not exist", field="input")
    csv = input_path.lower().endswith(".csv") or (
        local and os.path.isdir(input_path) and any(n.lower().endswith(".csv") for n in os.listdir(input_path)))
    return ray_data.read_csv(input_path) if csv else ray_data.read_parquet(input_path)


def predict_on_ray(model: LoadedModel, input_path: str, output_path: str, *, keep_columns: list[str] | None = None,
                   prediction_column: str = "prediction", replicas: int | None = None, batch_rows: int = 100_000,
                   ray_address: str | None = None) -> BatchStats:
    """Score ``input_path`` (a Parquet or CSV file, folder or ``s3://`` prefix) into a folder of Parquet files.

    Ray is started for the call (and stopped after) unless it already runs in this process or
    ``ray_address`` names a cluster. ``replicas`` (model copies scoring at once, one CPU each) defaults
    to the cluster's CPUs less one, which stays free for reading and writing: with every CPU taken by
    a replica, Ray Data cannot schedule the reads that feed them, and the job waits for ever.

    Raises:
        NotFoundError: a local input does not exist.
        InvalidInputError: the input lacks a model input or a kept column, or ``output_path`` is a file.
        MissingDependencyError: Ray is not installed (``opsloop[tune]``).
    """
    try:
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        import ray
        import ray.data
    except ImportError:
        raise MissingDependencyError.for_extra("ray", "tune") from None
    if "://" not in output_path and os.path.isfile(output_path):
        raise InvalidInputError(f"{output_path} is a file; Ray writes a folder of Parquet files", field="output")
    keep = list(keep_columns or [])
    started_here = not ray.is_initialized()
    if started_here:
        ray.init(address=ray_address, include_dashboard=False, configure_logging=False, log_to_driver=False)
    try:
        start = time.perf_counter()
        dataset = _read(ray.data, input_path)
        have = set(dataset.schema().names)
        for name in [*model.signature.names, *keep]:
            if name not in have:
                field = "keep" if name in keep and name not in model.signature.names else name
                raise InvalidInputError(f"the input has no column {name!r}", field=field)
        cpus = int(ray.cluster_resources().get("CPU", 1))
        copies = replicas if replicas is not None else max(1, cpus - 1)
        if isinstance(copies, bool) or not isinstance(copies, int) or copies < 1:
            raise InvalidInputError(f"replicas must be a positive integer, got {replicas!r}", field="replicas")
        scored = dataset.map_batches(_Scorer, fn_constructor_args=(model, keep, prediction_column),
                                     batch_format="pyarrow", batch_size=batch_rows, concurrency=copies)
        scored.write_parquet(output_path)
        files = len(os.listdir(output_path)) if "://" not in output_path else 0
        return BatchStats(rows=ray.data.read_parquet(output_path).count(), chunks=files,
                          seconds=time.perf_counter() - start)
    finally:
        if started_here:
            ray.shutdown()
