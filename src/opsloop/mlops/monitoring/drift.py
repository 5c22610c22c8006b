"""Drift of features and predictions against reference (training) data.

Numeric columns: PSI over the reference's decile bins, plus the two-sample Kolmogorov-Smirnov
test on a stored reference sample. Categorical columns: chi-square on category counts, plus the
Jensen-Shannon distance (base 2, in ``[0, 1]``). A reference is kept as a small JSON profile
(bins, proportions, a bounded value sample), never as the training data itself.
"""

from __future__ import annotations

import math
import re
import time
from collections import Counter
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from opsloop.errors import InvalidInputError
from opsloop.mlops.monitoring.records import HISTOGRAM_MAX_BINS, DriftReport, FeatureDrift, PredictionSample

__all__ = ["NOT_SERVED", "PREDICTION", "DriftPolicy", "build_profile", "compute_drift", "ks_test", "psi"]

PREDICTION = "__prediction__"
NOT_SERVED = "not in the served data"  # the note of a feature no sample of a full window carries
_EPS = 1e-4
_OTHER = "__other__"


@dataclass(frozen=True, slots=True)
class DriftPolicy:
    """When a feature counts as drifted.

    Attributes:
        psi_threshold: numeric drift when PSI exceeds this (0.2 is the usual "significant shift") beyond the
            PSI two samples of one distribution show by chance, about (bins - 1)(1/n + 1/N) for ``n``
            current and ``N`` reference values (0.1 for 100 current values against 1,000).
        psi_alpha: ... and only when the bins' counts differ from the reference's at this level (Pearson's
            chi-square): a new model's first few dozen requests differ from its training data by
            chance, often by a PSI over 0.2.
        ks_alpha: ... or when the KS p-value is below this and the KS statistic above ``ks_min_statistic``.
        js_threshold: categorical drift when the Jensen-Shannon distance exceeds half of this and the
            chi-square p-value is below ``chi2_alpha`` (above the whole of it, the drift is big).
        chi2_alpha: see ``js_threshold``. Categories expected fewer than 5 times in the window are
            tested together (the test is not valid for fewer, and a rare category seen once is no drift).

    The levels are strict (0.1 %) because every feature of every model is checked again at each round:
    at 1 %, half of the checks of 50 samples of unchanged data found some feature drifted.
        min_rows: fewer current values than this: no verdict for the feature.
        window: how many of the newest samples are compared with the reference.
    """

    psi_threshold: float = 0.2
    psi_alpha: float = 0.001
    ks_alpha: float = 0.001
    ks_min_statistic: float = 0.1
    js_threshold: float = 0.1
    chi2_alpha: float = 0.001
    min_rows: int = 50
    window: int = 5000


def psi(reference: np.ndarray, current: np.ndarray) -> float:
    """Population stability index of two proportion vectors over the same bins."""
    r = np.clip(reference, _EPS, None)
    c = np.clip(current, _EPS, None)
    return float(np.sum((c - r) * np.log(c / r)))


def ks_test(reference: Sequence[float], current: Sequence[float]) -> tuple[float, float]:
    """(statistic, p-value) of the two-sample Kolmogorov-Smirnov test."""
    from scipy import stats  # on first use: importing SciPy is ~0.6 s of every server's start

    res = stats.ks_2samp(np.asarray(reference, dtype=float), np.asarray(current, dtype=float))
    return float(res.statistic), float(res.pvalue)


def _is_numeric(values: pd.Series) -> bool:
    return values.dtype.kind in "fiu" and values.nunique(dropna=True) > 10


def _numeric_profile(values: np.ndarray, rng: np.random.Generator, sample_size: int) -> dict[str, Any]:
    values = values[np.isfinite(values)]
    edges = np.unique(np.quantile(values, np.linspace(0, 1, 11)))
    inner = edges[1:-1].tolist()
    counts = np.bincount(np.searchsorted(inner, values, side="right"), minlength=len(inner) + 1)
    sample = values if len(values) <= sample_size else rng.choice(values, sample_size, replace=False)
    return {"kind": "numeric", "edges": inner, "proportions": (counts / max(len(values), 1)).tolist(),
            "sample": np.round(sample, 8).tolist(), "rows": int(len(values))}


_WHOLE = re.compile(r"-?\d+\.0")


def _category(value: Any) -> str | None:
    """The category ``value`` counts as; ``None`` for a missing one (None, NaN, NA).

    A whole number is one category however it comes (``2``, ``2.0``, ``"2.0"``): a reference column of
    integers with a gap is read as floats, and requests send its values as JSON integers. The same
    applies to a profile's stored keys, so a reference profiled before reads the same.
    """
    if value is None or value is pd.NA or value is pd.NaT or (isinstance(value, float) and math.isnan(value)):
        return None
    key = str(value)
    return key[:-2] if _WHOLE.fullmatch(key) else key


def _categorical_profile(values: Iterable[Any], top: int = 50) -> dict[str, Any]:
    counts = Counter(c for c in map(_category, values) if c is not None)
    total = sum(counts.values()) or 1
    kept = dict(counts.most_common(top))
    other = total - sum(kept.values())
    props = {k: v / total for k, v in kept.items()}
    if other:
        props[_OTHER] = other / total
    return {"kind": "categorical", "proportions": props, "rows": int(total)}


def build_profile(frame: pd.DataFrame, predictions: Any = None, *, sample_size: int = 2000,
                  seed: int = 0) -> dict[str, Any]:
    """A reference profile of ``frame`` (and of the model's predictions on it, when given)."""
    if frame.empty:
        raise InvalidInputError("reference data has no rows", field="data")
    rng = np.random.default_rng(seed)
    features: dict[str, Any] = {}
    for name in frame.columns:
        col = frame[name]
        if _is_numeric(col):
            features[str(name)] = _numeric_profile(col.to_numpy(dtype=float), rng, sample_size)
        else:
            features[str(name)] = _categorical_profile(col.tolist())
    if predictions is not None:
        pred = pd.Series(_last_column(predictions))
        features[PREDICTION] = (_numeric_profile(pred.to_numpy(dtype=float), rng, sample_size)
                                if _is_numeric(pred) else _categorical_profile(pred.tolist()))
    return {"rows": int(len(frame)), "created": time.time(), "features": features}


def _last_column(preds: Any) -> list[Any]:
    arr = np.asarray(preds)
    if arr.ndim > 1:
        arr = arr.reshape(arr.shape[0], -1)[:, -1]
    return arr.tolist()


def _numeric_drift(name: str, ref: dict[str, Any], values: list[Any], policy: DriftPolicy) -> FeatureDrift:
    cur = np.asarray([v for v in values if isinstance(v, int | float) and not isinstance(v, bool)], dtype=float)
    cur = cur[np.isfinite(cur)]
    if len(cur) < policy.min_rows:
        return FeatureDrift(name, "numeric", {}, False, ref["rows"], len(cur), note="not enough current values")
    counts = np.bincount(np.searchsorted(ref["edges"], cur, side="right"), minlength=len(ref["edges"]) + 1)
    p = psi(np.asarray(ref["proportions"]), counts / len(cur))
    ks_stat, ks_p = ks_test(ref["sample"], cur)
    # two samples of one distribution have a PSI of about (bins - 1) * (1/n + 1/N) by chance alone (its
    # chi-square limit): the threshold is a shift beyond that, and the bins must also differ
    # significantly (PSI itself is no test: one empty bin of a small window adds 0.7 to it)
    scale = 1 / len(cur) + 1 / max(1, ref["rows"])
    dof = len(counts) - 1
    drifted = (p > policy.psi_threshold + dof * scale and _bins_differ(ref["proportions"], counts, scale, policy.psi_alpha)) \
        or (ks_p < policy.ks_alpha and ks_stat > policy.ks_min_statistic)
    return FeatureDrift(name, "numeric", {"psi": p, "ks_statistic": ks_stat, "ks_pvalue": ks_p,
                                          "current_mean": float(cur.mean())}, drifted, ref["rows"], len(cur),
                        histogram=_numeric_histogram(ref, counts))


def _numeric_histogram(ref: dict[str, Any], counts: np.ndarray) -> dict[str, Any]:
    """The reference's decile bins with reference and current counts (``< e1``, ``e1–e2``… ``≥ eN``)."""
    edges = [float(e) for e in ref["edges"]]
    labels = [f"< {edges[0]:.3g}"] if edges else ["all"]
    labels += [f"{a:.3g}–{b:.3g}" for a, b in zip(edges, edges[1:], strict=False)]
    labels += [f"≥ {edges[-1]:.3g}"] if edges else []
    reference = [round(p * ref["rows"]) for p in ref["proportions"]]
    return {"bins": labels, "edges": edges, "reference": reference, "current": [int(c) for c in counts]}


def _categorical_drift(name: str, ref: dict[str, Any], values: list[Any], policy: DriftPolicy) -> FeatureDrift:
    cur = [c for c in map(_category, values) if c is not None]
    if len(cur) < policy.min_rows:
        return FeatureDrift(name, "categorical", {}, False, ref["rows"], len(cur), note="not enough current values")
    known: dict[str, float] = {}
    for key, share in ref["proportions"].items():  # keyed by ``_category``, stored before it or since
        key = key if key == _OTHER else _category(key) or key
        known[key] = known.get(key, 0.0) + share
    counts = Counter(v if v in known else _OTHER for v in cur)
    cats = sorted(set(known) | set(counts))
    expected = np.asarray([known.get(c, 0.0) for c in cats]) + _EPS
    expected = expected / expected.sum()
    observed = np.asarray([counts.get(c, 0) for c in cats], dtype=float)
    expected, observed = _pool_rare(expected, observed)
    from scipy import stats
    from scipy.spatial.distance import jensenshannon

    if len(expected) > 1:
        chi2, chi_p = (float(x) for x in stats.chisquare(observed, f_exp=expected * observed.sum()))
        js = float(jensenshannon(expected, observed / observed.sum(), base=2))
    else:  # every category is rare in a window this small: nothing to tell apart
        chi2, chi_p, js = 0.0, 1.0, 0.0
    js = 0.0 if math.isnan(js) else js
    drifted = chi_p < policy.chi2_alpha and js > policy.js_threshold / 2
    return FeatureDrift(name, "categorical", {"chi2": float(chi2), "chi2_pvalue": float(chi_p),
                                              "jensen_shannon": js}, drifted, ref["rows"], len(cur),
                        histogram=_categorical_histogram(known, ref["rows"], _by_name(known, counts, cur)))


def _pool_rare(expected: np.ndarray, observed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The categories expected fewer than 5 times among ``observed`` merged into one (the chi-square
    test's condition of validity; a rare category seen once in a small window would look like drift)."""
    rare = expected * observed.sum() < 5
    if not rare.any():
        return expected, observed
    return (np.append(expected[~rare], expected[rare].sum()), np.append(observed[~rare], observed[rare].sum()))


def _bins_differ(reference: Sequence[float], counts: np.ndarray, scale: float, alpha: float) -> bool:
    """Whether the current counts differ from the reference proportions at level ``alpha`` (Pearson's
    two-sample chi-square over the bins; ``scale`` is 1/n + 1/N)."""
    if len(counts) < 2:
        return False
    from scipy import stats

    r = np.clip(np.asarray(reference, dtype=float), _EPS, None)
    c = counts / counts.sum()
    return float(stats.chi2.sf(float(np.sum((c - r) ** 2 / r)) / scale, len(counts) - 1)) < alpha


def _by_name(known: dict[str, float], counts: Counter[str], values: list[str]) -> Counter[str]:
    """The current counts to draw: categories the reference never saw by name (``counts`` folds them
    into ``__other__`` for the test), unless the reference folded some of its own there (past its top
    50), where a category seen by name might be one of those."""
    return counts if _OTHER in known else Counter(values)


def _categorical_histogram(known: dict[str, float], rows: int, counts: Counter[str]) -> dict[str, Any]:
    """Category counts, the most common first; past ``HISTOGRAM_MAX_BINS`` the rest fold into ``__other__``."""
    ref = Counter({c: round(p * rows) for c, p in known.items()})
    total_cur = sum(counts.values()) or 1
    share = {c: known.get(c, 0.0) + counts.get(c, 0) / total_cur for c in set(ref) | set(counts)}
    order = sorted(share, key=lambda c: (c == _OTHER, -share[c], c))
    if len(order) > HISTOGRAM_MAX_BINS:
        order = [c for c in order if c != _OTHER][:HISTOGRAM_MAX_BINS - 1]
        kept = set(order)
        ref[_OTHER] = sum(v for c, v in ref.items() if c not in kept)
        counts = Counter({**{c: counts.get(c, 0) for c in kept},
                          _OTHER: sum(v for c, v in counts.items() if c not in kept)})
        order.append(_OTHER)
    return {"bins": order, "categories": order, "reference": [int(ref.get(c, 0)) for c in order],
            "current": [int(counts.get(c, 0)) for c in order]}


RESOLVE_RATIO = 0.8  # a drifted feature is back in line below this share of its thresholds (hysteresis)


def _resolving(policy: DriftPolicy) -> DriftPolicy:
    """The thresholds a drifted feature must cross back to be in line again: a band below those that
    found it drifted, so a shift near them does not fire and resolve (an incident each time) by chance.
    The tests' levels stay: unchanged data keeps a feature drifted no more often than it makes one drift."""
    return replace(policy, psi_threshold=policy.psi_threshold * RESOLVE_RATIO,
                   ks_min_statistic=policy.ks_min_statistic * RESOLVE_RATIO,
                   js_threshold=policy.js_threshold * RESOLVE_RATIO)


def compute_drift(model: str, profile: dict[str, Any], samples: Sequence[PredictionSample],
                  policy: DriftPolicy | None = None, *, drifted: Collection[str] = ()) -> DriftReport:
    """Compare the features and predictions of ``samples`` with the reference ``profile``.

    A feature that none of at least ``policy.min_rows`` samples carries (the model's inputs changed)
    gets no verdict and the note ``NOT_SERVED``; while versions with and without it share the window,
    it is judged over the samples that carry it (a null value is missing, an absent one is not). A feature in ``drifted`` (its drift is firing) stays
    drifted until it is back within ``RESOLVE_RATIO`` of the thresholds (``_resolving``).
    """
    policy = policy or DriftPolicy()
    if policy.min_rows < 1:  # stored before it was checked: no values are no verdict, not a division by 0
        policy = replace(policy, min_rows=1)
    resolving = _resolving(policy)
    samples = samples[: policy.window]
    report = DriftReport(model=model, time=time.time(), reference_rows=int(profile.get("rows", 0)),
                         current_rows=len(samples))
    for name, ref in profile["features"].items():
        if name == PREDICTION:
            values = [_scalar(s.prediction) for s in samples]
        elif len(samples) >= policy.min_rows and not any(name in s.features for s in samples):
            report.features.append(FeatureDrift(name, ref["kind"], {}, False, ref["rows"], 0, note=NOT_SERVED))
            continue
        else:  # a sample without the feature is of a version whose inputs lack it, not a missing value
            values = [s.features[name] for s in samples if name in s.features]
        check = _numeric_drift if ref["kind"] == "numeric" else _categorical_drift
        judged = resolving if name in drifted else policy
        drift = check(name, ref, values, judged)
        if name != PREDICTION:
            drift = _with_missing(drift, ref, int(profile.get("rows", 0)), values, judged,
                                  MISSING_MIN_INCREASE * (RESOLVE_RATIO if name in drifted else 1))
        report.features.append(drift)
    return report


MISSING_MIN_INCREASE = 0.1  # a missing share this much above the reference's, and significant, is drift


def _missing(v: Any) -> bool:
    return v is None or v is pd.NA or v is pd.NaT or (isinstance(v, float) and not math.isfinite(v))


def _with_missing(drift: FeatureDrift, ref: dict[str, Any], profile_rows: int, values: list[Any],
                  policy: DriftPolicy, min_increase: float = MISSING_MIN_INCREASE) -> FeatureDrift:
    """``drift`` plus the feature's missing values: a share of them ``min_increase`` above the
    reference's, and significantly so (one-sided binomial test at ``chi2_alpha``), is drift too — what a
    broken upstream sends, and what the values left (or none) cannot show."""
    n = len(values)
    if n < policy.min_rows or profile_rows <= 0:
        return drift
    missing = sum(1 for v in values if _missing(v))
    share, ref_share = missing / n, min(1.0, max(0.0, 1 - ref["rows"] / profile_rows))
    if not missing and not ref_share:
        return drift
    from scipy import stats

    pvalue = float(stats.binomtest(missing, n, min(max(ref_share, 1e-3), 1 - 1e-9), alternative="greater").pvalue)
    statistics = {**drift.statistics, "missing_share": round(share, 4), "reference_missing_share": round(ref_share, 4)}
    if share - ref_share > min_increase and pvalue < policy.chi2_alpha:
        statistics["missing_pvalue"] = pvalue
        return FeatureDrift(drift.feature, drift.kind, statistics, True, drift.reference_rows, drift.current_rows,
                            histogram=drift.histogram)
    return FeatureDrift(drift.feature, drift.kind, statistics, drift.drifted, drift.reference_rows,
                        drift.current_rows, note=drift.note, histogram=drift.histogram)


def _scalar(pred: Any) -> Any:
    while isinstance(pred, list | tuple) and pred:
        pred = pred[-1]
    if isinstance(pred, dict) and pred:
        pred = list(pred.values())[-1]
    return pred
