"""The streaming detector contracts shared by metric anomaly detection and model-drift monitoring.

Two sibling shapes, after river:

- ``AnomalyDetector``: ``learn_one(x, t)`` then ``score_one(x, t)``; the score is a calibrated
  anomaly probability in ``[0, 1]``. ``x`` is a float (univariate) or a mapping of floats
  (multivariate); ``t`` is the event time in seconds (``None`` when unknown).
- ``DriftDetector``: ``update(x)`` then read ``drift_detected``.

Both follow scikit-learn's estimator contract: a constructor only stores its keyword parameters
under the same names, so ``get_params()`` / ``clone()`` rebuild a detector's configuration exactly.
Everything a detector learns lives in attributes whose names start with ``_``; ``state_dict()``
returns them as plain data (lists, dicts, numbers, nested detectors) and ``load_state_dict()``
restores them, so a checkpointed detector resumes with identical scores after a restart.
"""

from __future__ import annotations

import contextlib
import copy
import importlib
import inspect
from abc import ABC, abstractmethod
from array import array
from collections import deque
from collections.abc import Mapping
from typing import Any, Self

from opsloop.errors import InvalidInputError

__all__ = [
    "AnomalyDetector",
    "DriftDetector",
    "Estimator",
    "ExpectedBand",
    "from_config",
]

ExpectedBand = tuple[float, float, float]
"""(expected, low, high) of the last scored point."""

_REGISTRY: dict[str, type[Estimator]] = {}
_PARAM_NAMES: dict[type, tuple[str, ...]] = {}  # constructor parameter names per class


class Estimator(ABC):  # noqa: B024 - the base of both detector shapes, no verbs of its own
    """Parameters in the constructor, learned state in ``_``-prefixed attributes."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if not inspect.isabstract(cls):
            _REGISTRY[f"{cls.__module__}.{cls.__qualname__}"] = cls

    @classmethod
    def _param_names(cls) -> tuple[str, ...]:
        # once per class: every checkpoint written or restored asks each of a series' components
        names = _PARAM_NAMES.get(cls)
        if names is None:
            sig = inspect.signature(cls.__init__)
            kinds = (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
            names = _PARAM_NAMES[cls] = tuple(p.name for p in sig.parameters.values()
                                              if p.name != "self" and p.kind in kinds)
        return names

    def get_params(self) -> dict[str, Any]:
        """The constructor arguments, as given (deep-copied)."""
        return {name: copy.deepcopy(getattr(self, name)) for name in self._param_names()}

    def clone(self) -> Self:
        """A fresh, untrained detector with the same configuration."""
        return type(self)(**self.get_params())

    def config(self) -> dict[str, Any]:
        """A serialisable configuration: class path and parameters (see ``from_config``)."""
        return {"class": f"{type(self).__module__}.{type(self).__qualname__}", "params": self.get_params()}

    def state_dict(self) -> dict[str, Any]:
        """Learned state as plain data (nested detectors included); JSON-serialisable."""
        return {
            "config": _encode(self.config()),
            "state": {k: _encode(v) for k, v in vars(self).items() if k.startswith("_")},
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore state saved by ``state_dict`` (the configuration must match)."""
        if _decode(state["config"]) != self.config():
            raise InvalidInputError(
                "checkpoint was saved by a detector with another configuration", field="config"
            )
        for k, v in state["state"].items():
            setattr(self, k, _decode(v))


def from_config(config: Mapping[str, Any]) -> Estimator:
    """Rebuild a detector from ``Estimator.config()`` output."""
    path = str(config.get("class", ""))
    if path not in _REGISTRY and path.startswith("opsloop."):
        # a checkpoint may name a detector whose module nobody imported yet (only opsloop's own)
        with contextlib.suppress(ImportError):
            importlib.import_module(path.rpartition(".")[0])
    try:
        cls = _REGISTRY[path]
    except KeyError as exc:
        raise InvalidInputError(f"unknown detector class {path!r}", field="class") from exc
    return cls(**copy.deepcopy(dict(config["params"])))


class AnomalyDetector(Estimator):
    """Scores points of a stream; ``score_one`` returns a calibrated anomaly probability."""

    @abstractmethod
    def learn_one(self, x: Any, t: float | None = None) -> None:
        """Update the detector with one observation (call after ``score_one`` for causal use)."""

    @abstractmethod
    def score_one(self, x: Any, t: float | None = None) -> float:
        """Probability in ``[0, 1]`` that ``x`` is anomalous given the data learned so far."""

    def expected_band(self) -> ExpectedBand | None:
        """(expected, low, high) for the point last scored; ``None`` when there is no model yet."""
        return None

    def process_one(self, x: Any, t: float | None = None) -> float:
        """Score then learn one point: the usual streaming step."""
        p = self.score_one(x, t)
        self.learn_one(x, t)
        return p


class DriftDetector(Estimator):
    """Watches a stream of values (errors, feature values…) for a change in distribution."""

    @abstractmethod
    def update(self, x: float) -> None:
        """Feed one value; sets ``drift_detected`` for this step."""

    @property
    @abstractmethod
    def drift_detected(self) -> bool:
        """Whether the last ``update`` detected a drift."""


def _encode(v: Any) -> Any:
    if isinstance(v, Estimator):
        return {"__estimator__": v.state_dict()}
    if isinstance(v, deque):
        return {"__deque__": [_encode(i) for i in v], "maxlen": v.maxlen}
    if isinstance(v, tuple):
        return {"__tuple__": [_encode(i) for i in v]}
    if isinstance(v, list):
        return [_encode(i) for i in v]
    if isinstance(v, dict):
        if all(isinstance(k, str) for k in v):
            return {"__dict__": {k: _encode(i) for k, i in v.items()}}
        return {"__items__": [[_encode(k), _encode(i)] for k, i in v.items()]}
    if v is None or isinstance(v, bool | int | float | str):
        return v
    if isinstance(v, array):
        return {"__pyarray__": v.tolist(), "typecode": v.typecode}
    if hasattr(v, "tolist"):  # numpy arrays and scalars
        return {"__array__": v.tolist(), "dtype": str(v.dtype)}
    raise InvalidInputError(f"cannot checkpoint a {type(v).__name__}", field="state")


def _decode(v: Any) -> Any:
    if isinstance(v, list):
        return [_decode(i) for i in v]
    if not isinstance(v, dict):
        return v
    if "__estimator__" in v:
        est = from_config(_decode(v["__estimator__"]["config"]))
        est.load_state_dict(v["__estimator__"])
        return est
    if "__deque__" in v:
        return deque((_decode(i) for i in v["__deque__"]), maxlen=v["maxlen"])
    if "__tuple__" in v:
        return tuple(_decode(i) for i in v["__tuple__"])
    if "__dict__" in v:
        return {k: _decode(i) for k, i in v["__dict__"].items()}
    if "__items__" in v:
        return {_decode(k): _decode(i) for k, i in v["__items__"]}
    if "__pyarray__" in v:
        return array(v["typecode"], v["__pyarray__"])
    if "__array__" in v:
        import numpy as np

        return np.asarray(v["__array__"], dtype=v["dtype"])
    return {k: _decode(i) for k, i in v.items()}
