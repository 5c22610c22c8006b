"""Native loaders for the MLflow flavours opsloop serves without the ``mlflow`` package.

Each loader takes a parsed ``MLmodel`` and returns ``(native_model, predict_callable_name)``.
sklearn, xgboost and lightgbm models load with their own libraries; any other
``python_function`` model (a custom ``PythonModel``, models-from-code…) needs ``mlflow``.
"""

from __future__ import annotations

import importlib
import pickle
from collections.abc import Callable
from typing import Any

from opsloop.errors import InvalidInputError, MissingDependencyError
from opsloop.mlops.serving.mlmodel import MLmodel

__all__ = ["NativeModel", "load_native"]

NativeModel = tuple[Any, Callable[[Any], Any], str]
"""(model object, predict callable, flavour name)."""


def _import(module: str, extra: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingDependencyError.for_extra(module, extra) from exc


def _load_serialized(path: str, fmt: str, trusted: list[str] | None) -> Any:
    """Load a pickled/cloudpickled/skops-serialised estimator."""
    if fmt == "skops":
        skops_io = _import("skops.io", "models")
        return skops_io.load(path, trusted=trusted or skops_io.get_untrusted_types(file=path))
    if fmt not in ("pickle", "cloudpickle"):
        raise InvalidInputError(f"unsupported serialization format {fmt!r}", field="model_uri")
    with open(path, "rb") as f:
        return pickle.load(f)  # cloudpickle output loads with pickle; the model source is trusted


def _sklearn(mm: MLmodel) -> NativeModel:
    conf = mm.flavor("sklearn") or {}
    pyfunc = mm.flavor("python_function") or {}
    data = conf.get("pickled_model") or pyfunc.get("model_path")
    if not data:
        raise InvalidInputError("sklearn flavour names no model file", field="model_uri")
    fmt = conf.get("serialization_format", "cloudpickle")
    model = _load_serialized(str(mm.path / data), fmt, conf.get("skops_trusted_types"))
    fn = pyfunc.get("predict_fn", "predict")
    return model, getattr(model, fn), "sklearn"


def _xgboost(mm: MLmodel) -> NativeModel:
    conf = mm.flavor("xgboost") or {}
    xgb = _import("xgboost", "models")
    module, _, cls = str(conf.get("model_class", "xgboost.core.Booster")).rpartition(".")
    model = getattr(importlib.import_module(module), cls)()
    model.load_model(str(mm.path / conf["data"]))
    if isinstance(model, xgb.Booster):
        return model, lambda X: model.predict(xgb.DMatrix(X)), "xgboost"
    return model, model.predict, "xgboost"


def _lightgbm(mm: MLmodel) -> NativeModel:
    conf = mm.flavor("lightgbm") or {}
    lgb = _import("lightgbm", "models")
    path = str(mm.path / conf["data"])
    if conf.get("model_class", "lightgbm.basic.Booster") == "lightgbm.basic.Booster":
        model = lgb.Booster(model_file=path)
    else:
        model = _load_serialized(path, conf.get("serialization_format", "cloudpickle"),
                                 conf.get("skops_trusted_types"))
    return model, model.predict, "lightgbm"


def _pyfunc(mm: MLmodel) -> NativeModel:
    try:
        import mlflow.pyfunc
    except ImportError as exc:
        loader = (mm.flavor("python_function") or {}).get("loader_module", "?")
        raise MissingDependencyError(
            f"this model needs the mlflow package to load (python_function loader {loader}); "
            "install it with: pip install mlflow"
        ) from exc
    model = mlflow.pyfunc.load_model(str(mm.path))
    # the wrapped implementation skips MLflow's per-call schema enforcement; opsloop enforces the
    # signature itself before calling it
    impl = getattr(model, "_model_impl", None)
    predict = getattr(impl, "predict", None) or model.predict
    return model, predict, "python_function"


_BY_LOADER_MODULE: dict[str, Callable[[MLmodel], NativeModel]] = {
    "mlflow.sklearn": _sklearn,
    "mlflow.xgboost": _xgboost,
    "mlflow.lightgbm": _lightgbm,
}


def load_native(mm: MLmodel) -> NativeModel:
    """Load the model in ``mm`` with the fastest loader that understands it.

    Raises:
        MissingDependencyError: the flavour's library (or ``mlflow`` for custom pyfunc) is absent.
        InvalidInputError: the model directory names files or formats that cannot be read.
    """
    loader_module = (mm.flavor("python_function") or {}).get("loader_module")
    if loader_module in _BY_LOADER_MODULE:
        return _BY_LOADER_MODULE[loader_module](mm)
    if loader_module is None:
        for name in ("sklearn", "xgboost", "lightgbm"):
            if mm.flavor(name) is not None:
                return _BY_LOADER_MODULE[f"mlflow.{name}"](mm)
        raise InvalidInputError(
            f"model at {mm.path} has no servable flavour (flavours: {sorted(mm.flavors)})", field="model_uri"
        )
    return _pyfunc(mm)
