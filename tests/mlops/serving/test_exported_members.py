"""The public names of serving, monitoring and validation: changing them is a deliberate diff."""

from __future__ import annotations

import opsloop.mlops.monitoring as monitoring
import opsloop.mlops.serving as serving
import opsloop.mlops.validation as validation

SERVING = {
    "DEFAULT_MAX_BODY_BYTES", "ColumnSpec", "LoadedModel", "MLmodel", "MetricsTable", "MlflowClientResolver",
    "ModelInput", "ModelResolver", "ModelSignature", "ModelSlots", "PredictionRecorder", "RegistryScoringApp",
    "ScoringApp", "ServeOptions", "ServingMetrics", "TensorSpec", "TrafficPolicy", "build_app", "decode_body",
    "load_model", "model_uri_for", "predictions_to_json", "read_mlmodel", "resolve_model_uri", "serve",
}
MONITORING = {
    "PREDICTION", "DriftPolicy", "DriftReport", "FeatureDrift", "GroundTruth", "HealthMonitor", "HealthPolicy",
    "InMemoryMonitoringStore",
    "ModelMonitor", "MonitorConfig", "MonitoringStore", "PageHinkley", "PerformancePolicy", "PerformanceReport",
    "PredictionSample", "PredictionSampler", "ReferenceChangedError", "ServingMonitor", "SqlMonitoringStore", "WindowPSIDetector",
    "build_profile", "compute_drift", "create_monitoring_app", "drift_signals", "ks_test", "live_performance",
    "open_store", "performance_signals", "psi", "read_table",
}
VALIDATION = {
    "PASSED_TAG", "SUMMARY_TAG", "TIME_TAG", "GroupGap", "MlflowValidationRegistry", "Rule", "RuleResult",
    "ValidationPolicy", "ValidationRegistry", "ValidationReport", "group_gap", "infer_task", "load_policy",
    "model_outputs", "parse_rule", "score_metrics", "validate_models",
}


def test_public_names_are_pinned() -> None:
    for module, expected in ((serving, SERVING), (monitoring, MONITORING), (validation, VALIDATION)):
        assert set(module.__all__) == expected, module.__name__
        assert all(hasattr(module, name) for name in module.__all__)
