"""A model's drift reference set through an API document, and the thresholds kept with it.

A reference request is a JSON object with the reference data either inline, in one of MLflow's
scoring shapes (``dataframe_split``, ``dataframe_records``, ``instances``, ``inputs``), or as
``path``: where the server can read a Parquet/CSV file (``runs:/RUN_ID/data/train.parquet``). Optional:
``ref`` (the version or alias whose predictions profile the output), ``drift``, ``performance`` and
``health`` (``DriftPolicy`` / ``PerformancePolicy`` / ``HealthPolicy`` fields, e.g.
``{"performance": {"min_accuracy": 0.9}, "health": {"max_error_rate": 0.02}}``).
The thresholds are stored in the profile (``profile["policies"]``), so every check of the model,
scheduled or asked for, uses them.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

import orjson
import pandas as pd

from opsloop.errors import InvalidInputError
from opsloop.mlops.monitoring.drift import PREDICTION, DriftPolicy
from opsloop.mlops.monitoring.health import MAX_WINDOW_S, HealthPolicy
from opsloop.mlops.monitoring.performance import PerformancePolicy
from opsloop.mlops.serving.metrics import LATENCY_BUCKETS

__all__ = ["ReferenceRequest", "health_policy_of", "policies_of", "reference_summary"]

_POLICIES: dict[str, type] = {"drift": DriftPolicy, "performance": PerformancePolicy, "health": HealthPolicy}
_KNOWN = {"path", "ref", *_POLICIES}


@dataclass(slots=True)
class ReferenceRequest:
    """A parsed reference document: ``rows`` (inline data) or ``path``, plus ``ref`` and ``policies``."""

    rows: pd.DataFrame | None
    path: str | None
    ref: str | None
    policies: dict[str, dict[str, Any]]

    @classmethod
    def parse(cls, doc: Any) -> ReferenceRequest:
        """Check a reference document.

        Raises:
            InvalidInputError: not an object, neither or both of inline rows and ``path``, an unknown
                field, or a threshold of the wrong type; ``field`` names it.
        """
        from opsloop.mlops.serving.payload import FORMATS

        if not isinstance(doc, dict):
            raise InvalidInputError("the reference must be a JSON object", field="body")
        unknown = sorted(k for k in doc if k not in _KNOWN and k not in FORMATS)
        if unknown:
            raise InvalidInputError(f"unknown field {unknown[0]!r}; expected one of {list(FORMATS)} or 'path', "
                                    "and optionally 'ref', 'drift', 'performance', 'health'", field=unknown[0])
        inline = [k for k in FORMATS if k in doc]
        if len(inline) + ("path" in doc) != 1:
            raise InvalidInputError(f"give the reference data once: inline as one of {list(FORMATS)}, or as "
                                    "'path' (runs:/RUN_ID/path.parquet or .csv)", field="path" if inline else "body")
        ref = doc.get("ref")
        if ref is not None and (not isinstance(ref, str | int) or isinstance(ref, bool) or not str(ref).strip()):
            raise InvalidInputError("'ref' must be a version number or an alias", field="ref")
        path = doc.get("path")
        if "path" in doc and (not isinstance(path, str) or not path.strip()):
            raise InvalidInputError("'path' must be a non-empty string", field="path")
        return cls(rows=_rows(inline[0], doc[inline[0]]) if inline else None, path=path,
                   ref=None if ref is None else str(ref).strip(), policies=_policies(doc))


def _rows(key: str, value: Any) -> pd.DataFrame:
    from opsloop.mlops.serving.mlmodel import ModelSignature
    from opsloop.mlops.serving.payload import decode_body

    try:
        data = decode_body(orjson.dumps({key: value}), "application/json", ModelSignature(), fast=False)
    except InvalidInputError as exc:
        raise InvalidInputError(f"{key}: {exc.message}", field=key if exc.field == "body" else exc.field) from None
    if data.frame is None:
        raise InvalidInputError(f"'{key}' must hold named columns", field=key)
    return data.frame


# thresholds that are shares or probabilities (at most 1), those below 1, and those of at least 1:
# a bound past them never holds (min_accuracy 2 breaches for ever) or leaves every check without a verdict
_AT_MOST_ONE = {"min_accuracy", "psi_alpha", "ks_alpha", "ks_min_statistic", "chi2_alpha", "js_threshold",
                "max_error_rate", "resolve_ratio"}
_BELOW_ONE = {"confidence"}
_AT_LEAST_ONE = {"window", "window_s", "min_requests", "min_rows"}
# health thresholds: above 0 (a latency bound of 0 always fires; a resolve ratio of 0 never resolves), and at
# most what can be measured (the readings kept; the largest latency bucket)
_ABOVE_ZERO = {"resolve_ratio", "max_latency_p99_s"}
_AT_MOST = {"window_s": MAX_WINDOW_S, "max_latency_p99_s": LATENCY_BUCKETS[-1]}


def _number(kind: str, value: Any, where: str) -> Any:
    if value is None and "None" in kind:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        raise InvalidInputError(f"{where} must be a non-negative number", field=where)
    if kind == "int" and not isinstance(value, int):
        raise InvalidInputError(f"{where} must be an integer", field=where)
    name = where.rsplit(".", 1)[-1]
    if name in _AT_MOST_ONE and value > 1:
        raise InvalidInputError(f"{where} must be from 0 to 1; got {value}", field=where)
    if name in _BELOW_ONE and value >= 1:
        raise InvalidInputError(f"{where} must be from 0 to below 1 (0.99: 99 %); got {value}", field=where)
    if name in _AT_LEAST_ONE and value < 1:
        raise InvalidInputError(f"{where} must be at least 1; got {value}", field=where)
    if name in _ABOVE_ZERO and value <= 0:
        raise InvalidInputError(f"{where} must be above 0; got {value}", field=where)
    if name in _AT_MOST and value > _AT_MOST[name]:
        raise InvalidInputError(f"{where} must be at most {_AT_MOST[name]:g}; got {value}", field=where)
    return value


def _policies(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for key, cls in _POLICIES.items():
        raw = doc.get(key)
        if raw is None:
            continue
        if not isinstance(raw, dict):
            raise InvalidInputError(f"'{key}' must be an object of thresholds", field=key)
        known = {f.name: str(f.type) for f in fields(cls)}
        for name, value in raw.items():
            if name not in known:
                raise InvalidInputError(f"unknown {key} threshold {name!r}; one of {sorted(known)}",
                                        field=f"{key}.{name}")
            _number(known[name], value, f"{key}.{name}")
        out[key] = dict(raw)
    return out


def policies_of(profile: dict[str, Any] | None) -> tuple[DriftPolicy, PerformancePolicy]:
    """The drift and performance thresholds stored with a reference profile (defaults otherwise)."""
    stored = (profile or {}).get("policies") or {}
    return DriftPolicy(**stored.get("drift", {})), PerformancePolicy(**stored.get("performance", {}))


def health_policy_of(profile: dict[str, Any] | None, defaults: HealthPolicy | None = None) -> HealthPolicy:
    """The health thresholds stored with a reference profile, ``defaults`` for the others (the server's
    ``monitoring.health``, or ``opsloop serve``'s flags; ``HealthPolicy``'s own when none)."""
    stored = ((profile or {}).get("policies") or {}).get("health") or {}
    return replace(defaults, **stored) if defaults is not None else HealthPolicy(**stored)


def reference_summary(model: str, profile: dict[str, Any], health_defaults: HealthPolicy | None = None
                      ) -> dict[str, Any]:
    """What a reference holds, without its bins and samples: ``policies`` are the thresholds set with
    it, ``thresholds`` every threshold its checks use (those set, defaults for the rest: for health,
    ``health_defaults``); ``origin`` the data, version and alias it came from (``None`` for one set
    before they were recorded) and ``behind`` (``None``, or the version its alias serves now, whose
    training data is unknown)."""
    features = profile.get("features", {})
    drift, performance = policies_of(profile)
    origin = profile.get("origin")
    return {"model": model, "rows": profile.get("rows"), "created": profile.get("created"),
            "features": {name: f.get("kind") for name, f in features.items() if name != PREDICTION},
            "predictions": PREDICTION in features, "policies": profile.get("policies") or {},
            "thresholds": {"drift": asdict(drift), "performance": asdict(performance),
                           "health": asdict(health_policy_of(profile, health_defaults))},
            "origin": {k: v for k, v in origin.items() if k != "behind"} if origin else None,
            "behind": (origin or {}).get("behind")}
