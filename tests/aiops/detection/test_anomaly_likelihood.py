"""The alerter's optional anomaly likelihood: recurring spikes stop paging, a sustained change still pages."""

from __future__ import annotations

import json
import math
import random

import pytest

from opsloop.aiops.detection import AnomalyLikelihood, MetricWatch, UnivariateEnsemble, WatchRule
from opsloop.aiops.detection.alerting import HysteresisAlerter
from opsloop.core.detectors import from_config
from opsloop.errors import InvalidInputError


def _spiky(seed: int, n: int = 4000, shift_at: int | None = None) -> list[float]:
    """Gaussian noise with a same-sized ten-sigma spike every 97 points (a usual sight on this series)."""
    rng = random.Random(seed)
    values = [10.0 + rng.gauss(0.0, 0.3) for _ in range(n)]
    for i in range(200, n, 97):
        values[i] += rng.choice([-1.0, 1.0]) * 3.0
    if shift_at is not None:
        values[shift_at:] = [v + 1.5 for v in values[shift_at:]]  # a sustained five-sigma shift
    return values


def _firings(values: list[float], **alerter) -> list[int]:
    det, al = UnivariateEnsemble(), HysteresisAlerter(**alerter)
    fired = []
    for i, v in enumerate(values):
        p = det.score_one(v, 60.0 * i)
        det.learn_one(v, 60.0 * i)
        if al.step(p) == "firing":
            fired.append(i)
    return fired


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_recurring_spikes_stop_paging_once_the_likelihood_has_learned_the_series(seed):
    values = _spiky(seed)
    assert len([i for i in _firings(values) if i > 500]) >= 5  # the probabilities alone keep paging
    assert len([i for i in _firings(values, likelihood=True) if i > 500]) <= 1


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_sustained_shift_in_a_spiky_series_still_pages(seed):
    fired = _firings(_spiky(seed, shift_at=3000), likelihood=True)
    assert any(3000 <= i <= 3020 for i in fired)


def test_the_likelihood_waits_for_its_fit_then_is_causal():
    lk = AnomalyLikelihood(learning_period=20, estimation_samples=30, refit_every=10, history=100)
    rng = random.Random(7)
    out = [lk.update(rng.random()) for _ in range(49)]
    assert all(like is None for like in out) and not lk.ready
    assert lk.update(0.5) is None and lk.ready  # fitted after learning this point, used from the next
    state = json.loads(json.dumps(lk.state_dict()))
    twin = from_config(lk.config())
    assert isinstance(twin, AnomalyLikelihood)
    twin.load_state_dict(state)
    high = [lk.update(1.0 - 1e-9) for _ in range(10)]
    assert high == [twin.update(1.0 - 1e-9) for _ in range(10)]
    assert high[-1] is not None and high[-1] > 1.0 - 1e-8  # a run of strong surprise is unlikely


def test_flat_nan_and_saturated_probabilities_give_likelihoods_in_range():
    lk = AnomalyLikelihood()
    values = [0.0] * 500 + [math.nan, 1.0, math.inf, -0.5] * 50
    out = [lk.update(p) for p in values]
    assert all(like is None or 0.0 <= like <= 1.0 for like in out)
    assert lk.ready and lk._std >= lk.min_std / math.sqrt(lk.window)


def test_likelihood_parameters_are_checked():
    with pytest.raises(InvalidInputError):
        AnomalyLikelihood(window=0)
    with pytest.raises(InvalidInputError):
        AnomalyLikelihood(min_std=0.0)
    with pytest.raises(InvalidInputError):
        HysteresisAlerter(likelihood=True, likelihood_gate=0.9999, likelihood_alone=0.99)
    with pytest.raises(InvalidInputError):
        HysteresisAlerter(likelihood="yes")  # type: ignore[arg-type]


def test_the_alerter_checkpoint_carries_the_likelihood():
    values = _spiky(3, n=1500)
    det = UnivariateEnsemble()
    probs = []
    for i, v in enumerate(values):
        probs.append(det.score_one(v, 60.0 * i))
        det.learn_one(v, 60.0 * i)
    whole, first = HysteresisAlerter(likelihood=True), HysteresisAlerter(likelihood=True)
    expected = [whole.step(p) for p in probs]
    for p in probs[:1000]:
        first.step(p)
    resumed = HysteresisAlerter(likelihood=True)
    resumed.load_state_dict(json.loads(json.dumps(first.state_dict())))
    assert [resumed.step(p) for p in probs[1000:]] == expected[1000:]
    # a checkpoint written without the likelihood resumes with it learning afresh
    older = HysteresisAlerter(likelihood=True)
    older.load_state_dict(HysteresisAlerter().state_dict())
    assert older.step(0.5) is None and not older._likelihood.ready  # type: ignore[union-attr]


def test_a_watch_rule_can_turn_the_likelihood_on_and_resume_it():
    rule = WatchRule("latency", "latency", alerter={"likelihood": True})
    labels = {"__name__": "latency"}
    values = _spiky(4, n=1200, shift_at=1100)
    whole, first = MetricWatch([rule]), MetricWatch([rule])
    expected = [whole.observe(labels, 60.0 * i, v) for i, v in enumerate(values)]
    for i, v in enumerate(values[:900]):
        first.observe(labels, 60.0 * i, v)
    changed, _ = first.take_changes()
    resumed = MetricWatch([WatchRule("latency", "latency", alerter={"likelihood": True})])
    assert resumed.restore(changed) == []
    got = [resumed.observe(labels, 60.0 * i, v) for i, v in enumerate(values[900:], start=900)]
    assert [[s.to_dict() for s in sigs] for sigs in got] == [[s.to_dict() for s in sigs] for sigs in expected[900:]]
    assert any(got[200:]), "the shift pages"
