"""Metric anomaly detection and predictive alerting.

Streaming detectors (``learn_one``/``score_one`` → calibrated anomaly probability), alerting with
hysteresis into ``metric_anomaly`` signals, forecasts into ``prediction`` signals, and
``MetricWatch``, which runs them per ingested series selected by label matchers (and
``ServiceWatch``, one multivariate detector per service over its set of metrics).
"""

from opsloop.aiops.detection.alerting import HysteresisAlerter
from opsloop.aiops.detection.calibration import TailCalibrator
from opsloop.aiops.detection.changepoint import ChangePointDetector
from opsloop.aiops.detection.ensemble import UnivariateEnsemble
from opsloop.aiops.detection.forecast import Forecast, SeasonalTrendForecaster, ThresholdPredictor
from opsloop.aiops.detection.likelihood import AnomalyLikelihood
from opsloop.aiops.detection.multivariate import HalfSpaceTrees
from opsloop.aiops.detection.novelty import RangeNoveltyDetector
from opsloop.aiops.detection.resonance import ResonanceDetector
from opsloop.aiops.detection.seasonal import SeasonalBaseline, detect_period
from opsloop.aiops.detection.sequence import SequenceNoveltyDetector
from opsloop.aiops.detection.service_watch import ServiceRule, ServiceWatch
from opsloop.aiops.detection.volatility import VolatilityDetector
from opsloop.aiops.detection.watch import LabelMatcher, MetricWatch, WatchRule, parse_selector

__all__ = [
    "AnomalyLikelihood",
    "ChangePointDetector",
    "Forecast",
    "HalfSpaceTrees",
    "HysteresisAlerter",
    "LabelMatcher",
    "MetricWatch",
    "RangeNoveltyDetector",
    "ResonanceDetector",
    "SeasonalBaseline",
    "SeasonalTrendForecaster",
    "SequenceNoveltyDetector",
    "ServiceRule",
    "ServiceWatch",
    "TailCalibrator",
    "ThresholdPredictor",
    "UnivariateEnsemble",
    "VolatilityDetector",
    "WatchRule",
    "detect_period",
    "parse_selector",
]
