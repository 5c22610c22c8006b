"""A search space is checked once: what the bounds say, and errors that name the parameter and key."""

from __future__ import annotations

from typing import Any

import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

from opsloop.errors import InvalidInputError
from opsloop.mlops.tuning import SearchSpace
from opsloop.mlops.tuning.space import Choice, FloatRange, IntRange


def test_kinds_follow_the_bounds_and_fixed_values_are_kept_apart() -> None:
    space = SearchSpace.parse({
        "lr": {"low": 1e-4, "high": 0.1, "log": True},
        "depth": {"low": 2, "high": 10},
        "units": {"low": 32, "high": 256, "step": 32},
        "ratio": {"low": 0, "high": 1, "type": "float"},
        "booster": ["gbtree", "dart"],
        "loss": {"choices": ["l1", "l2", None]},
        "epochs": {"value": 20},
    })
    assert space.searched == {
        "lr": FloatRange(1e-4, 0.1, log=True), "depth": IntRange(2, 10), "units": IntRange(32, 256, step=32),
        "ratio": FloatRange(0.0, 1.0), "booster": Choice(("gbtree", "dart")), "loss": Choice(("l1", "l2", None)),
    }
    assert space.fixed == {"epochs": 20}
    dists = space.distributions()
    assert dists["lr"] == FloatDistribution(1e-4, 0.1, log=True)
    assert dists["units"] == IntDistribution(32, 256, step=32)
    assert dists["booster"] == CategoricalDistribution(("gbtree", "dart"))
    assert SearchSpace.parse(space.describe()) == space


@pytest.mark.parametrize(("spec", "field"), [
    ({}, "space"),
    ({"epochs": {"value": 3}}, "space"),
    ([("lr", 1)], "space"),
    ({"lr": 0.1}, "space.lr"),
    ({"lr": {"low": 0.1}}, "space.lr.high"),
    ({"lr": {"low": "0.1", "high": 1.0}}, "space.lr.low"),
    ({"lr": {"low": 1.0, "high": 0.1}}, "space.lr.low"),
    ({"lr": {"low": 0.0, "high": 1.0, "log": True}}, "space.lr.low"),
    ({"lr": {"low": 0.1, "high": 1.0, "log": "yes"}}, "space.lr.log"),
    ({"lr": {"low": 0.1, "high": float("inf")}}, "space.lr.high"),
    ({"lr": {"low": 0.1, "high": 1.0, "step": 0}}, "space.lr.step"),
    ({"lr": {"low": 0.1, "high": 1.0, "step": 0.1, "log": True}}, "space.lr.step"),
    ({"lr": {"low": 0.1, "high": 1.0, "stepp": 0.1}}, "space.lr.stepp"),
    ({"depth": {"low": 2, "high": 9.5, "type": "int"}}, "space.depth.high"),
    ({"depth": {"low": 2, "high": 9, "type": "integer"}}, "space.depth.type"),
    ({"b": {"choices": []}}, "space.b.choices"),
    ({"b": {"choices": ["x", "x"]}}, "space.b.choices"),
    ({"b": [1, True]}, "space.b.choices"),  # 1 == True: Optuna could never draw True
    ({"b": [0.0, None, 0]}, "space.b.choices"),
    ({"b": {"choices": [["nested"]]}}, "space.b.choices"),
    ({"b": {"choices": ["x"], "low": 1}}, "space.b.low"),
    ({"b": ["x"], "epochs": {"value": 1, "low": 0}}, "space.epochs.low"),
    ({"b": ["x"], "epochs": {"value": float("nan")}}, "space.epochs.value"),
    # names MLflow refuses as param keys (every trial's run would fail to start)
    ({"lr@adam": [0.1, 0.2]}, "space.lr@adam"),
    ({"b": ["x"], "../up": {"value": 1}}, "space.../up"),
    ({"p" * 251: [1, 2]}, "space." + "p" * 251),
])
def test_a_bad_space_names_the_culprit(spec: Any, field: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        SearchSpace.parse(spec)
    assert caught.value.field == field
