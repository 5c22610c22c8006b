"""Hyperparameter tuning: Optuna's samplers and pruners, in this process or on Ray, every trial a run.

    from opsloop.mlops.tuning import tune

    def objective(trial):
        model = train(lr=trial.params["lr"], depth=trial.params["depth"])
        for epoch in range(20):
            trial.report(model.fit_epoch(), step=epoch)     # lets a pruner stop a hopeless trial
        return model.validation_loss()

    result = tune(objective, {"lr": {"low": 1e-4, "high": 0.1, "log": True}, "depth": {"low": 2, "high": 8}},
                  metric="val_loss", n_trials=30, experiment="churn", url="http://127.0.0.1:5000")
    result.best_params, result.best_value, result.best_run_id

Needs the ``tune`` extra (``pip install 'opsloop[tune]'``: Optuna and Ray Tune).
"""

from opsloop.mlops.tuning.results import TrialResult, TuningResult
from opsloop.mlops.tuning.space import SearchSpace
from opsloop.mlops.tuning.study import TuningOptions, tune
from opsloop.mlops.tuning.trial import Trial

__all__ = ["SearchSpace", "Trial", "TrialResult", "TuningOptions", "TuningResult", "tune"]
