"""A loaded, servable model: the native object, its signature, and the fastest way to call it."""

from __future__ import annotations

import logging
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from opsloop.errors import InvalidInputError, OpsloopError
from opsloop.mlops.serving.flavors import load_native
from opsloop.mlops.serving.mlmodel import MLmodel, ModelSignature, read_mlmodel
from opsloop.mlops.serving.payload import ModelInput, decode_body
from opsloop.mlops.serving.uris import ModelResolver, resolve_model_uri

__all__ = ["LoadedModel", "ModelFailedError", "load_model"]

log = logging.getLogger(__name__)

# Models fitted on DataFrames warn when given an ndarray; the fast path does that on purpose.
warnings.filterwarnings("ignore", message="X does not have valid feature names")


class ModelFailedError(InvalidInputError):
    """The model itself raised on an input its signature's checks let through.

    Answered 400 as MLflow's scoring server does (the model "rejected the input"), but counted apart from
    bad input: a model that crashes on every request is a failing service, not a run of bad requests.
    """


@dataclass(slots=True)
class LoadedModel:
    """A model ready to score requests.

    Attributes:
        uri: what the caller asked for (``models:/fraud@champion``, a directory…).
        path: the local model directory.
        flavor: the flavour that loaded it (``sklearn``, ``xgboost``, ``lightgbm``, ``python_function``).
        signature: the input signature (may be empty).
        fast_path: whether requests go to the model as a float64 matrix (no pandas).
        native: the underlying model object (estimator, booster, PyFuncModel).
    """

    uri: str
    path: Path
    flavor: str
    signature: ModelSignature
    mlmodel: MLmodel
    native: Any
    predict_fn: Any
    fast_path: bool = False
    loaded_at: float = field(default_factory=time.time)

    @property
    def model_uuid(self) -> str:
        return self.mlmodel.model_uuid

    def decode(self, body: bytes, content_type: str = "application/json") -> ModelInput:
        """Parse a scoring request body for this model (see ``payload.decode_body``)."""
        return decode_body(body, content_type, self.signature, fast=self.fast_path)

    def predict(self, data: ModelInput) -> Any:
        """Score a parsed input; whatever the model raises becomes ``ModelFailedError`` (an ``InvalidInputError``)."""
        if data.matrix is not None and not self.fast_path:
            data = ModelInput(frame=self.matrix_to_frame(data.matrix), params=data.params)
        x = data.matrix if data.matrix is not None else data.frame if data.frame is not None else data.tensor
        try:
            if self.flavor == "sklearn" and data.matrix is not None and np.isfinite(x).all():
                # the matrix is known finite: spare scikit-learn its own (costly) finiteness scan
                with _sklearn_config(assume_finite=True):
                    return self.predict_fn(x)
            if data.params and self.flavor == "python_function":
                return self.predict_fn(x, params=data.params)
            return self.predict_fn(x)
        except Exception as exc:  # noqa: BLE001 - like MLflow, a model that fails on an input answers 400
            raise _rejected(exc, "body") from exc

    def predict_frame(self, frame: pd.DataFrame) -> Any:
        """Score a DataFrame (batch scoring, validation, references); a model's own error (unknown columns,
        text where it needs numbers) becomes ``InvalidInputError`` naming ``input``."""
        try:
            if self.fast_path:
                return self.predict_fn(frame[self.signature.names].to_numpy(dtype=np.float64))
            return self.predict_fn(frame)
        except Exception as exc:  # noqa: BLE001 - whatever the model raises, the data is what it refused
            raise _rejected(exc, "input") from exc

    def predict_matrix(self, matrix: np.ndarray) -> Any:
        """Score a float matrix of the signature's columns (the fast path of batch scoring)."""
        try:
            return self.predict_fn(matrix)
        except Exception as exc:  # noqa: BLE001 - as predict_frame
            raise _rejected(exc, "input") from exc

    def matrix_to_frame(self, matrix: np.ndarray) -> pd.DataFrame:
        frame = pd.DataFrame(matrix, columns=self.signature.names)
        for c in self.signature.columns:
            if c.type in ("long", "integer") and not np.isnan(frame[c.name]).any():
                frame[c.name] = frame[c.name].astype("int64" if c.type == "long" else "int32")
            elif c.type == "boolean":
                frame[c.name] = frame[c.name].astype(bool)
        return frame

    def describe(self) -> dict[str, Any]:
        return {"uri": self.uri, "flavor": self.flavor, "model_uuid": self.model_uuid,
                "fast_path": self.fast_path, "signature": self.signature.to_dict()}


def _rejected(exc: Exception, field: str) -> ModelFailedError:
    return ModelFailedError(f"the model rejected the input: {exc}", field=field)


def _sklearn_config(**kw: Any) -> Any:
    from sklearn import config_context

    return config_context(**kw)


def _sample_frame(mm: MLmodel) -> pd.DataFrame:
    example = mm.input_example()
    if example is not None:
        split = example["dataframe_split"]
        frame = pd.DataFrame(split["data"], columns=split["columns"])
        if set(mm.signature.names) <= set(frame.columns):
            return frame[mm.signature.names]
    return pd.DataFrame({n: [0.0, 1.0] for n in mm.signature.names})


def _same(a: Any, b: Any) -> bool:
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        return False
    if a.dtype.kind in "fc" and b.dtype.kind in "fc":
        return bool(np.allclose(a, b, equal_nan=True))
    return bool((a == b).all())


def _fast_path_works(predict_fn: Any, model: LoadedModel) -> bool:
    """Try the model on the same rows as a DataFrame and as a matrix; use the matrix only if equal."""
    if not model.signature.numeric_only or model.flavor == "python_function":
        return False
    try:
        frame = model.matrix_to_frame(_sample_frame(model.mlmodel).to_numpy(dtype=np.float64))
        expected = predict_fn(frame)
        got = predict_fn(frame.to_numpy(dtype=np.float64))
    except Exception as exc:  # noqa: BLE001 - any failure just means "use the DataFrame path"
        log.info("ndarray fast path disabled for %s: %s", model.uri, exc)
        return False
    return _same(expected, got)


def load_model(uri: str | Path, resolver: ModelResolver | None = None) -> LoadedModel:
    """Resolve ``uri`` to a local MLflow model directory and load it.

    Args:
        uri: a local directory, ``file://`` path, ``models:/NAME@ALIAS``, ``models:/NAME/VERSION``
            or ``runs:/RUN_ID/PATH`` (the last three go through ``resolver``).
        resolver: turns registry/run URIs into local directories (see ``uris.ModelResolver``).

    Raises:
        NotFoundError: the URI names no model.
        MissingDependencyError: the flavour's library is not installed.
        InvalidInputError: the directory is not a loadable MLflow model.
    """
    path = resolve_model_uri(str(uri), resolver)
    mm = read_mlmodel(path)
    try:
        native, predict_fn, flavor = load_native(mm)
    except OpsloopError:
        raise
    except Exception as exc:  # noqa: BLE001 - a broken artifact surfaces as one clear startup error
        raise InvalidInputError(f"model at {path} failed to load: {type(exc).__name__}: {exc}",
                                field="model_uri") from exc
    model = LoadedModel(uri=str(uri), path=path, flavor=flavor, signature=mm.signature, mlmodel=mm,
                        native=native, predict_fn=predict_fn)
    model.fast_path = _fast_path_works(predict_fn, model)
    return model
