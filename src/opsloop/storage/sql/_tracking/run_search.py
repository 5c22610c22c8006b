"""Run search and the loading of whole runs (params, tags, metrics, inputs, outputs)."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence

from sqlalchemy import Connection, func, select

from opsloop.mlops.tracking import limits
from opsloop.mlops.tracking.entities import Dataset, DatasetInput, Metric, Run, RunInfo, ViewType
from opsloop.mlops.tracking.search import decode_page_token, encode_page_token, parse_filter, parse_order_by
from opsloop.storage.sql import schema as t
from opsloop.storage.sql._dialect import chunks
from opsloop.storage.sql._run_query import build_run_query
from opsloop.storage.sql._tracking.base import TrackingStoreBase, _exp_id


class RunSearch(TrackingStoreBase):
    """Searching runs and loading them with their children."""

    def search_runs(self, experiment_ids: Sequence[object], filter_string: str | None = None,
                    run_view_type: int = ViewType.ACTIVE_ONLY, max_results: int = 1000,
                    order_by: list[str] | None = None, page_token: str | None = None) -> tuple[list[Run], str | None]:
        limits.check_max_results(max_results, limits.MAX_RESULTS_SEARCH_RUNS)
        clauses = parse_filter(filter_string)
        orders = parse_order_by(order_by)
        offset = decode_page_token(page_token)
        exp_ids = [_exp_id(e) for e in experiment_ids]
        query = build_run_query(exp_ids, ViewType.stages(run_view_type), clauses, orders)
        with self.db.read() as conn:
            ids = [r[0] for r in conn.execute(query.offset(offset).limit(max_results + 1))]
            found = self._load_runs(conn, ids[:max_results])
        token = encode_page_token(offset + max_results) if len(ids) > max_results else None
        return found, token

    def _load_runs(self, conn: Connection, ids: Sequence[str]) -> list[Run]:
        if not ids:
            return []
        found: dict[str, Run] = {}
        for batch in chunks(ids):
            for r in conn.execute(select(t.runs).where(t.runs.c.run_uuid.in_(batch))):
                found[r.run_uuid] = Run(RunInfo(r.run_uuid, str(r.experiment_id), r.name, r.user_id, r.status,
                                                r.start_time, r.end_time, r.artifact_uri, r.lifecycle_stage))
            self._attach_children(conn, batch, found)
        return [found[i] for i in ids if i in found]

    @staticmethod
    def _attach_children(conn: Connection, batch: list[str], found: dict[str, Run]) -> None:
        for r in conn.execute(select(t.params.c.run_uuid, t.params.c.key, t.params.c.value)
                              .where(t.params.c.run_uuid.in_(batch))):
            found[r[0]].params[r[1]] = r[2]
        for r in conn.execute(select(t.tags.c.run_uuid, t.tags.c.key, t.tags.c.value)
                              .where(t.tags.c.run_uuid.in_(batch))):
            found[r[0]].tags[r[1]] = r[2]
        lm = t.latest_metrics.c
        for m in conn.execute(select(lm.run_uuid, lm.key, lm.value, lm.is_nan, lm.timestamp, lm.step)
                              .where(lm.run_uuid.in_(batch))):
            found[m[0]].metrics.append(Metric(m[1], math.nan if m[3] else m[2], m[4], m[5], run_id=m[0]))
        ri, d = t.run_inputs.c, t.datasets.c
        for i in conn.execute(select(ri.run_uuid, ri.tags_json, d.name, d.digest, d.source_type, d.source, d.schema,
                                     d.profile).join_from(t.run_inputs, t.datasets, ri.dataset_uuid == d.dataset_uuid)
                              .where(ri.run_uuid.in_(batch))
                              .order_by(func.coalesce(ri.position, -1), ri.dataset_uuid)):  # as they were logged
            found[i[0]].dataset_inputs.append(
                DatasetInput(Dataset(i[2], i[3], i[4], i[5], i[6], i[7]), json.loads(i[1])))
        for r in conn.execute(select(t.run_model_inputs).where(t.run_model_inputs.c.run_uuid.in_(batch))):
            found[r.run_uuid].model_inputs.append(r.model_id)
        for r in conn.execute(select(t.run_model_outputs).where(t.run_model_outputs.c.run_uuid.in_(batch))):
            found[r.run_uuid].model_outputs.append((r.model_id, r.step))

