"""MLflow's REST API (tracking, logged models, registry, artifacts), served by opsloop."""

from opsloop.server.mlflow.routes import mlflow_routes

__all__ = ["mlflow_routes"]
