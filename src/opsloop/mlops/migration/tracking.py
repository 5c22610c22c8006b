"""Copy experiments, runs and MLflow 3 logged models from an MLflow store to opsloop.

Each run is written in one order — create (with its tags, start time and name), params and full metric
histories, inputs, logged models and their artifacts, run artifacts, end state — and only then gets the
``opsloop.import.source_run_id`` tag. That tag is what a later import looks for, so a run that failed
half-way is never taken for a finished copy: it is deleted in the destination and copied again next time.
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from opsloop.mlops.migration.summary import ImportSummary

__all__ = ["SOURCE_MODEL_TAG", "SOURCE_RUN_TAG", "TrackingCopier", "batches", "paged"]

SOURCE_RUN_TAG = "opsloop.import.source_run_id"
SOURCE_MODEL_TAG = "opsloop.import.source_model_id"
_PARENT_TAG = "mlflow.parentRunId"
# MLflow's log_batch limits: 1,000 entities in all, of which at most 100 params and 100 tags.
_MAX_METRICS, _MAX_PARAMS, _MAX_TAGS = 1000, 100, 100


def paged(fetch: Callable[[str | None], Any]) -> Iterator[Any]:
    """Every item of a paged mlflow listing; ``fetch(page_token)`` returns a ``PagedList``."""
    token = None
    while True:
        page = fetch(token)
        yield from page
        token = page.token
        if not token:
            return


def batches(metrics: Sequence[Any], params: Sequence[Any], tags: Sequence[Any] = ()) -> Iterator[tuple]:
    """``(metrics, params, tags)`` chunks within MLflow's log_batch limits (1,000 entities, 100 params, 100
    tags per call)."""
    m, p, t = list(metrics), list(params), list(tags)
    while m or p or t:
        ps, p = p[:_MAX_PARAMS], p[_MAX_PARAMS:]
        ts, t = t[:_MAX_TAGS], t[_MAX_TAGS:]
        room = _MAX_METRICS - len(ps) - len(ts)
        ms, m = m[:room], m[room:]
        yield ms, ps, ts


@dataclass
class Options:
    """What to copy: experiment names (empty: all), deleted ones too, or only say what would be copied."""

    experiments: Sequence[str] = ()
    include_deleted: bool = False
    dry_run: bool = False


@dataclass
class _Experiment:
    """One source experiment being copied: its destination id and the ids already there."""

    source: Any
    dest_id: str | None
    runs_done: dict[str, str] = field(default_factory=dict)    # source run id -> destination run id
    models_done: dict[str, str] = field(default_factory=dict)  # source model id -> destination model id


def _point_key(key: str, step: int, timestamp: int, value: float) -> tuple:
    return key, step, timestamp, "nan" if math.isnan(value) else value


class TrackingCopier:
    """Copies the tracking side; ``runs`` and ``models`` keep the old → new ids the registry copy needs."""

    def __init__(self, mlflow: Any, src: Any, dst: Any, source_uri: str, options: Options, summary: ImportSummary,
                 progress: Callable[[str], None]) -> None:
        self.mlflow, self.src, self.dst, self.source_uri = mlflow, src, dst, source_uri
        self.options, self.summary, self.progress = options, summary, progress
        self.runs: dict[str, str] = {}
        self.models: dict[str, str] = {}
        self.failed_runs: set[str] = set()
        # (source run, destination run, source model id) of model inputs whose model was not copied yet
        self.pending_inputs: list[tuple[str, str, str]] = []
        from mlflow.entities import ViewType

        self._view = ViewType.ALL if options.include_deleted else ViewType.ACTIVE_ONLY
        self._all = ViewType.ALL

    # -- experiments ---------------------------------------------------------------------------------------

    def source_experiments(self) -> list[Any]:
        found = list(paged(lambda t: self.src.search_experiments(view_type=self._view, max_results=1000,
                                                                 page_token=t)))
        if not self.options.experiments:
            return found
        by_name = {e.name: e for e in found}
        for name in self.options.experiments:
            if name not in by_name:
                self.summary.failed("experiments", name, f"no experiment named {name!r} in the source")
        return [by_name[n] for n in dict.fromkeys(self.options.experiments) if n in by_name]

    def copy_all(self) -> None:
        for exp in self.source_experiments():
            try:
                target = self._experiment(exp)
            except Exception as exc:  # noqa: BLE001 - one experiment failing must not stop the others
                self.summary.failed("experiments", exp.experiment_id, _message(exc))
                self.progress(f"experiment {exp.name!r}: failed: {_message(exc)}")
                continue
            if target is not None:
                self._contents(target)

    def _experiment(self, exp: Any) -> _Experiment | None:
        dest = self.dst.get_experiment_by_name(exp.name)
        if dest is not None and dest.lifecycle_stage == "deleted" and exp.lifecycle_stage != "deleted":
            raise RuntimeError(f"experiment {exp.name!r} exists in the destination but is deleted: restore or "
                               "rename it there first")
        tags = {k: v for k, v in exp.tags.items() if not k.startswith("opsloop.import.")}
        if dest is not None:
            self.summary.skipped("experiments", exp.experiment_id, dest.experiment_id)
            target = _Experiment(exp, dest.experiment_id)
            if not self.options.dry_run:
                for key, value in tags.items():
                    if dest.tags.get(key) != value:
                        self.dst.set_experiment_tag(dest.experiment_id, key, value)
            self._existing(target)
            return target
        if self.options.dry_run:
            self.summary.copied("experiments", exp.experiment_id)
            self.progress(f"experiment {exp.name!r}: would be created")
            return _Experiment(exp, None)
        new_id = self.dst.create_experiment(exp.name, tags=tags or None)
        self.summary.copied("experiments", exp.experiment_id, new_id)
        self.progress(f"experiment {exp.name!r}: created ({exp.experiment_id} -> {new_id})")
        return _Experiment(exp, new_id)

    def _existing(self, target: _Experiment) -> None:
        """The runs and logged models earlier imports already brought into ``target``."""
        assert target.dest_id is not None
        dest_id = target.dest_id
        for run in paged(lambda t: self.dst.search_runs([dest_id], run_view_type=self._all, max_results=1000,
                                                        page_token=t)):
            old = run.data.tags.get(SOURCE_RUN_TAG)
            if old:
                target.runs_done[old] = run.info.run_id
        for model in paged(lambda t: self.dst.search_logged_models([dest_id], max_results=100, page_token=t)):
            old = model.tags.get(SOURCE_MODEL_TAG)
            if old:
                target.models_done[old] = model.model_id

    def _contents(self, target: _Experiment) -> None:
        exp_id = target.source.experiment_id
        runs = list(paged(lambda t: self.src.search_runs([exp_id], run_view_type=self._view, max_results=1000,
                                                         page_token=t)))
        models = [m for m in paged(lambda t: self.src.search_logged_models([exp_id], max_results=100, page_token=t))]
        by_run: dict[str, list[Any]] = {}
        for model in models:
            by_run.setdefault(model.source_run_id or "", []).append(model)
        ids = {r.info.run_id for r in runs}
        self.progress(f"experiment {target.source.name!r}: {len(runs)} runs, {len(models)} logged models")
        for run in _parents_first(runs):
            self._run_or_skip(target, run, by_run.get(run.info.run_id, []))
        loose = [m for key, ms in by_run.items() if key not in ids for m in ms]
        for model in loose:  # logged models without a source run (or whose run is not copied)
            self._model_or_skip(target, model, None)
        self._pending_inputs()
        if target.source.lifecycle_stage == "deleted" and target.dest_id and not self.options.dry_run:
            dest = self.dst.get_experiment(target.dest_id)
            if dest.lifecycle_stage != "deleted":
                self.dst.delete_experiment(target.dest_id)

    # -- runs ----------------------------------------------------------------------------------------------

    def _run_or_skip(self, target: _Experiment, run: Any, models: list[Any]) -> None:
        old = run.info.run_id
        if old in target.runs_done:
            self.runs[old] = target.runs_done[old]
            self.summary.skipped("runs", old, target.runs_done[old])
            for model in models:
                self._model_or_skip(target, model, target.runs_done[old])
            return
        if self.options.dry_run:
            self.summary.copied("runs", old)
            self.progress(f"  run {old} ({run.info.run_name or ''}): would be copied")
            for model in models:
                self._model_or_skip(target, model, None)
            return
        try:
            new = _RunCopy(self, target, run, models).copy()
        except Exception as exc:  # noqa: BLE001 - a run that fails is reported, the others are still copied
            self.failed_runs.add(old)
            self.summary.failed("runs", old, _message(exc))
            self.progress(f"  run {old}: failed: {_message(exc)}")
            return
        self.runs[old] = new
        self.summary.copied("runs", old, new)
        self.progress(f"  run {old} -> {new} ({run.info.run_name or ''})")

    def _pending_inputs(self) -> None:
        from mlflow.entities import LoggedModelInput

        pending, self.pending_inputs = self.pending_inputs, []
        for old_run, new_run, old_model in pending:
            if old_model not in self.models:
                self.summary.failed("runs", old_run, f"model input {old_model} was not copied, so is not linked")
                continue
            try:
                self.dst.log_inputs(new_run, models=[LoggedModelInput(self.models[old_model])])
            except Exception as exc:  # noqa: BLE001
                self.summary.failed("runs", old_run, f"linking model input {old_model}: {_message(exc)}")

    def _model_or_skip(self, target: _Experiment, model: Any, new_run_id: str | None) -> None:
        old = model.model_id
        if old in target.models_done:
            self.models[old] = target.models_done[old]
            self.summary.skipped("logged_models", old, target.models_done[old])
            return
        if self.options.dry_run:
            self.summary.copied("logged_models", old)
            self.progress(f"  logged model {old} ({model.name}): would be copied")
            return
        try:
            new = self.copy_model(target, model, new_run_id)
            self.finish_model(model, new)
        except Exception as exc:  # noqa: BLE001
            self.summary.failed("logged_models", old, _message(exc))
            self.progress(f"  logged model {old}: failed: {_message(exc)}")
            return
        self.summary.copied("logged_models", old, new)

    def copy_model(self, target: _Experiment, model: Any, new_run_id: str | None) -> str:
        """Create ``model`` in the destination with its params, tags and artifacts (not yet finalized)."""
        assert target.dest_id is not None
        tags = {k: v for k, v in model.tags.items() if k != SOURCE_MODEL_TAG}
        new = self.dst.create_logged_model(target.dest_id, name=model.name, source_run_id=new_run_id, tags=tags,
                                           params=dict(model.params), model_type=model.model_type).model_id
        self.models[model.model_id] = new
        if not self._has_files(model):
            return new
        with tempfile.TemporaryDirectory(prefix="opsloop-import-") as tmp:
            local = self.mlflow.artifacts.download_artifacts(artifact_uri=model.artifact_location, dst_path=tmp,
                                                             tracking_uri=self.source_uri)
            self.dst.log_model_artifacts(new, local)
        return new

    def _has_files(self, model: Any) -> bool:
        """Whether ``model`` has artifacts; a model that is pending or failed may have none (downloading
        them would fail), which is no reason to fail its run."""
        try:
            return bool(self.src.list_logged_model_artifacts(model.model_id))
        except Exception:
            if _status(model) == "READY":
                raise
            return False

    def finish_model(self, model: Any, new: str) -> None:
        """Give the copy the source's status, then the tag that marks it as a finished copy."""
        status = _status(model)
        if status in ("READY", "FAILED"):
            self.dst.finalize_logged_model(new, status)
        self.dst.set_logged_model_tags(new, {SOURCE_MODEL_TAG: model.model_id})


class _RunCopy:
    """One run being copied; on failure the half-made run (and its models) are deleted in the destination."""

    def __init__(self, copier: TrackingCopier, target: _Experiment, run: Any, models: list[Any]) -> None:
        self.c, self.target, self.run, self.models = copier, target, run, models
        self.new: str | None = None
        self.new_models: list[tuple[Any, str]] = []

    def copy(self) -> str:
        try:
            return self._copy()
        except BaseException:  # an interrupted copy too: a half-made run must not pass for a copy
            self._undo()
            raise

    def _copy(self) -> str:
        c, run = self.c, self.run
        assert self.target.dest_id is not None
        tags = {k: v for k, v in run.data.tags.items() if k != SOURCE_RUN_TAG}
        parent = tags.get(_PARENT_TAG)
        if parent and parent in c.runs:
            tags[_PARENT_TAG] = c.runs[parent]
        # MLflow's system tags (the user among them) go with the creation; past a batch's worth, the rest follow
        ordered = sorted(tags.items(), key=lambda kv: not kv[0].startswith("mlflow."))
        new = c.dst.create_run(self.target.dest_id, start_time=run.info.start_time,
                               tags=dict(ordered[:_MAX_TAGS]), run_name=run.info.run_name).info.run_id
        self.new = new
        for model in self.models:
            self.new_models.append((model, c.copy_model(self.target, model, new)))
        self._data(new, ordered[_MAX_TAGS:])
        self._inputs_outputs(new)
        self._artifacts(new)
        for model, model_new in self.new_models:
            c.finish_model(model, model_new)
            c.summary.copied("logged_models", model.model_id, model_new)
        if run.info.status != "RUNNING":
            c.dst.set_terminated(new, run.info.status, run.info.end_time)
        c.dst.set_tag(new, SOURCE_RUN_TAG, run.info.run_id)
        if run.info.lifecycle_stage == "deleted":
            c.dst.delete_run(new)
        return new

    def _data(self, new: str, more_tags: list[tuple[str, str]]) -> None:
        """Params, tags not sent at creation, and every point of every metric; points the source also links to
        a logged model of this run (MLflow keeps them twice, opsloop once with the link) are sent with the
        copy's model id."""
        from mlflow.entities import Metric, Param, RunTag

        links: dict[tuple, Any] = {}
        for model, model_new in self.new_models:
            for m in model.metrics or []:
                links[_point_key(m.key, m.step, m.timestamp, m.value)] = (m, model_new)
        points = []
        for key in self.run.data.metrics:
            for m in self.c.src.get_metric_history(self.run.info.run_id, key):
                link = links.pop(_point_key(m.key, m.step, m.timestamp, m.value), None)
                points.append(_linked(Metric, m, link) if link else Metric(m.key, m.value, m.timestamp, m.step))
        points.extend(_linked(Metric, m, (m, model_new)) for m, model_new in links.values())
        params = [Param(k, v) for k, v in self.run.data.params.items()]
        tags = [RunTag(k, v) for k, v in more_tags]
        for ms, ps, ts in batches(points, params, tags):
            self.c.dst.log_batch(new, metrics=ms, params=ps, tags=ts, synchronous=True)

    def _inputs_outputs(self, new: str) -> None:
        from mlflow.entities import LoggedModelInput, LoggedModelOutput

        inputs = getattr(self.run, "inputs", None)
        datasets = list(getattr(inputs, "dataset_inputs", None) or [])
        model_inputs = []
        for m in getattr(inputs, "model_inputs", None) or []:
            if m.model_id in self.c.models:
                model_inputs.append(LoggedModelInput(self.c.models[m.model_id]))
            else:  # a model of a run copied later: linked once the experiment's runs are all copied
                self.c.pending_inputs.append((self.run.info.run_id, new, m.model_id))
        if datasets or model_inputs:
            self.c.dst.log_inputs(new, datasets=datasets or None, models=model_inputs or None)
        outputs = getattr(self.run, "outputs", None)
        model_outputs = [LoggedModelOutput(self.c.models[m.model_id], m.step)
                         for m in getattr(outputs, "model_outputs", None) or [] if m.model_id in self.c.models]
        if model_outputs:
            self.c.dst.log_outputs(new, model_outputs)

    def _artifacts(self, new: str) -> None:
        if not self.c.src.list_artifacts(self.run.info.run_id):
            return
        with tempfile.TemporaryDirectory(prefix="opsloop-import-") as tmp:
            local = self.c.src.download_artifacts(self.run.info.run_id, "", tmp)
            self.c.dst.log_artifacts(new, local)

    def _undo(self) -> None:
        for _model, model_new in self.new_models:
            _quietly(self.c.dst.delete_logged_model, model_new)
            self.c.models = {k: v for k, v in self.c.models.items() if v != model_new}
        if self.new is not None:
            _quietly(self.c.dst.delete_run, self.new)


def _linked(metric_cls: Any, m: Any, link: tuple[Any, str]) -> Any:
    source, model_new = link
    return metric_cls(m.key, m.value, m.timestamp, m.step, model_id=model_new,
                      dataset_name=getattr(source, "dataset_name", None),
                      dataset_digest=getattr(source, "dataset_digest", None))


def _status(model: Any) -> str:
    """``READY``, ``FAILED`` or ``PENDING``, however the client spells a logged model's status."""
    status = str(model.status).rsplit(".", 1)[-1]
    return {"LOGGED_MODEL_READY": "READY", "UPLOAD_FAILED": "FAILED",
            "LOGGED_MODEL_UPLOAD_FAILED": "FAILED"}.get(status, status)


def _parents_first(runs: list[Any]) -> list[Any]:
    """``runs`` ordered so that each parent run comes before its children (whose parent tag is remapped)."""
    by_id = {r.info.run_id: r for r in runs}
    ordered: list[Any] = []
    seen: set[str] = set()

    def visit(run: Any, depth: int = 0) -> None:
        if run.info.run_id in seen:
            return
        seen.add(run.info.run_id)
        parent = by_id.get(run.data.tags.get(_PARENT_TAG, ""))
        if parent is not None and depth < 100:
            visit(parent, depth + 1)
        ordered.append(run)

    for run in sorted(runs, key=lambda r: (r.info.start_time or 0, r.info.run_id)):
        visit(run)
    return ordered


def _quietly(call: Callable[..., Any], *args: Any) -> None:
    try:
        call(*args)
    except Exception:  # noqa: BLE001, S110 - best-effort cleanup after a failure already being reported
        pass


def _message(exc: BaseException) -> str:
    """One line for the summary; MLflow puts the reason on the lines after the first, so all are kept."""
    text = " ".join(str(getattr(exc, "message", None) or exc).split())
    return text[:500] if text else type(exc).__name__
