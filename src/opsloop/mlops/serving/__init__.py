"""Model serving: load MLflow-format models, score them over MLflow's protocol, fast."""

from opsloop.mlops.serving.app import DEFAULT_MAX_BODY_BYTES, PredictionRecorder, ScoringApp
from opsloop.mlops.serving.loading import LoadedModel, load_model
from opsloop.mlops.serving.metrics import MetricsTable, ServingMetrics
from opsloop.mlops.serving.mlmodel import ColumnSpec, MLmodel, ModelSignature, TensorSpec, read_mlmodel
from opsloop.mlops.serving.payload import ModelInput, decode_body, predictions_to_json
from opsloop.mlops.serving.router import RegistryScoringApp, model_uri_for
from opsloop.mlops.serving.server import ServeOptions, build_app, serve
from opsloop.mlops.serving.traffic import ModelSlots, TrafficPolicy
from opsloop.mlops.serving.uris import MlflowClientResolver, ModelResolver, resolve_model_uri

__all__ = [
    "DEFAULT_MAX_BODY_BYTES",
    "ColumnSpec",
    "LoadedModel",
    "MLmodel",
    "MetricsTable",
    "MlflowClientResolver",
    "ModelInput",
    "ModelResolver",
    "ModelSignature",
    "ModelSlots",
    "PredictionRecorder",
    "RegistryScoringApp",
    "ScoringApp",
    "ServeOptions",
    "ServingMetrics",
    "TensorSpec",
    "TrafficPolicy",
    "build_app",
    "decode_body",
    "load_model",
    "model_uri_for",
    "predictions_to_json",
    "read_mlmodel",
    "resolve_model_uri",
    "serve",
]
