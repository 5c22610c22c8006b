"""All MLflow-compatible routes."""

from starlette.routing import BaseRoute

from opsloop.server.mlflow import artifacts, assessments, experiments, logged_models, runs, traces

__all__ = ["mlflow_routes"]


def mlflow_routes() -> list[BaseRoute]:
    routes: list[BaseRoute] = [*experiments.routes, *runs.routes, *logged_models.routes, *artifacts.routes,
                               *traces.routes, *assessments.routes]
    try:
        from opsloop.server.mlflow import registry
    except ImportError:  # the registry routes arrive with the registry store
        return routes
    return routes + registry.routes
