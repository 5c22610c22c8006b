"""``tune(backend="ray")``: trials run as Ray Tune tasks in Ray workers; the runs are the same as local ones."""

from __future__ import annotations

from pathlib import Path

import ray

from opsloop.mlops.tuning import Trial, tune
from opsloop.sdk import Client


def far_is_slow_and_flat_fails(trial: Trial) -> float:
    x = trial.params["x"]
    if trial.params["shape"] == "flat" and x > 0:
        raise RuntimeError(f"diverged at x={x:.3f}")
    value = 0.0
    for step in range(4):
        value = abs(x) * 10 + 1 / (step + 1)
        trial.log_metrics({"width": abs(x), "step_seen": step}, step=step)
        trial.report(value, step)
    return value


def test_ray_trials_are_recorded_pruned_and_failed_like_local_ones(tmp_path: Path) -> None:
    assert not ray.is_initialized()
    result = tune(far_is_slow_and_flat_fails, {"x": {"low": -3.0, "high": 3.0}, "shape": ["bowl", "flat"]},
                  metric="loss", n_trials=10, seed=2, sampler="random", pruning=True, backend="ray", concurrency=2,
                  data_dir=tmp_path, run_name="on-ray")
    assert not ray.is_initialized()  # the session stopped the Ray it started
    states = [t.state for t in result.trials]
    assert len(states) == 10 and {"complete", "pruned", "failed"} <= set(states), states

    client = Client(data_dir=tmp_path)
    runs = {run.info.run_id: run for run in client.search_runs()}
    parent = runs[result.parent_run_id]
    assert parent.info.status == "FINISHED" and parent.tags["opsloop.tuning.backend"] == "ray"
    for trial in result.trials:
        run = runs[trial.run_id]
        assert run.tags["mlflow.parentRunId"] == parent.info.run_id
        assert run.tags["opsloop.tuning.state"] == trial.state
        assert float(run.params["x"]) == trial.params["x"] and run.params["shape"] == trial.params["shape"]
        if trial.state == "failed":
            assert run.info.status == "FAILED" and "RuntimeError: diverged at x=" in run.tags["opsloop.tuning.error"]
            continue
        assert run.info.status == "FINISHED"
        widths = client.get_metric_history(trial.run_id, "width")
        losses = client.get_metric_history(trial.run_id, "loss")
        if trial.state == "complete":
            assert len(widths) == 4 and len(losses) == 4
            assert {m.key: m.value for m in run.metrics}["loss"] == trial.value
        else:
            assert 2 <= len(losses) < 4  # stopped once step 1 was judged
    assert result.best_value == min(t.value for t in result.completed if t.value is not None)
    assert parent.params["x"] == str(result.best_params["x"])  # type: ignore[index]


def test_on_ray_timeout_s_draws_no_trial_after_it_but_lets_running_ones_end() -> None:
    from ray.tune.search import Searcher
    from ray.tune.search.optuna import OptunaSearch

    from opsloop.mlops.tuning.distributed import _searcher
    from opsloop.mlops.tuning.space import SearchSpace

    space = SearchSpace.parse({"x": {"low": 0.0, "high": 1.0}}).distributions()
    unlimited = _searcher(OptunaSearch, None)(space, metric="loss", mode="min")
    assert set(unlimited.suggest("a")) == {"x"}
    expired = _searcher(OptunaSearch, 1e-9)(space, metric="loss", mode="min")
    assert expired.suggest("b") == Searcher.FINISHED  # Tune starts no more trials (time_budget_s killed them all)
