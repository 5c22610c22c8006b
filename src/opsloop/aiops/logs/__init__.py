"""Log intelligence: streaming template mining and log anomalies.

``LogMiner`` turns messages into templates (the constant part) and parameters online;
``HeaderParser`` separates header fields from the message; ``LogAnomalyDetector`` turns
mined lines into ``Signal``s of kind ``log_anomaly``; ``LogIngestor`` chains the three for
an ingestion endpoint. Templates persist through a ``TemplateStore``.
"""

from opsloop.aiops.logs.anomalies import LogAnomalyConfig, LogAnomalyDetector
from opsloop.aiops.logs.baseline import SeasonalBaseline
from opsloop.aiops.logs.config import MinerConfig
from opsloop.aiops.logs.headers import HeaderParser, LogFormat, LogRecord, is_error_level
from opsloop.aiops.logs.ingestion import IngestedLine, LogIngestor
from opsloop.aiops.logs.masking import WILDCARD, Masker
from opsloop.aiops.logs.miner import LogMiner, Match
from opsloop.aiops.logs.stats import MinerStats
from opsloop.aiops.logs.store import InMemoryTemplateStore, TemplateStore, load_snapshot, save_snapshot
from opsloop.aiops.logs.templates import Template, TemplateVersion

__all__ = [
    "WILDCARD",
    "HeaderParser",
    "InMemoryTemplateStore",
    "IngestedLine",
    "LogAnomalyConfig",
    "LogAnomalyDetector",
    "LogFormat",
    "LogIngestor",
    "LogMiner",
    "LogRecord",
    "Masker",
    "Match",
    "MinerConfig",
    "MinerStats",
    "SeasonalBaseline",
    "Template",
    "TemplateStore",
    "TemplateVersion",
    "is_error_level",
    "load_snapshot",
    "save_snapshot",
]
