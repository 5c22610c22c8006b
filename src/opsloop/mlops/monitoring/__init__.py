"""Production monitoring: sampled predictions, drift, live performance, and signals for AIOps.

Drift and performance breaches are ``opsloop.core.signals.Signal`` objects of kind
``model_drift`` / ``model_performance`` (see ``monitoring.signals`` for their exact shape); a served
model's 5xx rate and p99 latency breaches are ``model_health`` signals (``monitoring.health``).
"""

from opsloop.mlops.monitoring.api import create_monitoring_app
from opsloop.mlops.monitoring.detectors import PageHinkley, WindowPSIDetector
from opsloop.mlops.monitoring.drift import PREDICTION, DriftPolicy, build_profile, compute_drift, ks_test, psi
from opsloop.mlops.monitoring.health import HealthMonitor, HealthPolicy
from opsloop.mlops.monitoring.memory import InMemoryMonitoringStore
from opsloop.mlops.monitoring.monitor import ModelMonitor
from opsloop.mlops.monitoring.performance import PerformancePolicy, PerformanceReport, live_performance
from opsloop.mlops.monitoring.records import DriftReport, FeatureDrift, GroundTruth, PredictionSample
from opsloop.mlops.monitoring.sampling import PredictionSampler
from opsloop.mlops.monitoring.service import MonitorConfig, ServingMonitor, read_table
from opsloop.mlops.monitoring.signals import drift_signals, performance_signals
from opsloop.mlops.monitoring.sql import SqlMonitoringStore
from opsloop.mlops.monitoring.store import MonitoringStore, ReferenceChangedError, open_store

__all__ = [
    "PREDICTION",
    "DriftPolicy",
    "DriftReport",
    "FeatureDrift",
    "GroundTruth",
    "HealthMonitor",
    "HealthPolicy",
    "InMemoryMonitoringStore",
    "ModelMonitor",
    "MonitorConfig",
    "MonitoringStore",
    "PageHinkley",
    "PerformancePolicy",
    "PerformanceReport",
    "PredictionSample",
    "PredictionSampler",
    "ReferenceChangedError",
    "ServingMonitor",
    "SqlMonitoringStore",
    "WindowPSIDetector",
    "build_profile",
    "compute_drift",
    "create_monitoring_app",
    "drift_signals",
    "ks_test",
    "live_performance",
    "open_store",
    "performance_signals",
    "psi",
    "read_table",
]
