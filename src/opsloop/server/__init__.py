"""The HTTP server: MLflow-compatible API, opsloop's API and the UI."""
