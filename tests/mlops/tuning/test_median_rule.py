"""Ray trials are pruned by the rule Optuna's MedianPruner applies to local ones: same decisions."""

from __future__ import annotations

import random

import optuna
import pytest

from opsloop.mlops.tuning.pruning import MedianRule


@pytest.mark.parametrize("direction", ["minimize", "maximize"])
def test_median_rule_decides_as_optuna_median_pruner(direction: str) -> None:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    rng = random.Random(7)
    study = optuna.create_study(direction=direction,
                                pruner=optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=1))
    rule = MedianRule(direction, startup_trials=3)
    theirs, ours = [], []
    for number in range(40):
        trial = study.ask()
        level, slope = rng.uniform(0, 10), rng.uniform(-1, 1)
        steps = rng.randint(2, 8)  # trials of different lengths: later steps have fewer peers
        pruned = False
        for step in range(steps):
            value = level + slope * step + rng.gauss(0, 0.5)
            trial.report(value, step)
            optuna_says, we_say = trial.should_prune(), rule.should_stop(number, step, value)
            theirs.append(optuna_says)
            ours.append(we_say)
            if optuna_says:
                pruned = True
                break
        if pruned:
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        else:
            study.tell(trial, value)
            rule.complete(number)
    assert ours == theirs
    assert 5 < sum(theirs) < 35  # the sequence exercises both answers


def test_nothing_is_judged_before_enough_trials_complete_or_at_step_zero() -> None:
    rule = MedianRule("minimize", startup_trials=2)
    for trial, values in enumerate(([1.0, 1.0], [2.0, 2.0])):
        for step, value in enumerate(values):
            assert not rule.should_stop(trial, step, value)
        if trial == 0:
            assert not rule.should_stop("late", 1, 100.0)  # one trial completed of the two needed
        rule.complete(trial)
    assert not rule.should_stop("bad", 0, 100.0)  # step 0 is never judged
    assert rule.should_stop("bad", 1, 100.0)
    assert not rule.should_stop("good", 1, 1.2)
