"""Log intelligence: streaming template mining and log anomalies.

``LogMiner`` turns raw messages into templates (constant part) and parameters online;
``HeaderParser`` separates header fields from the message; ``LogAnomalyDetector`` turns
template events into ``Signal``s of kind ``log_anomaly``.
"""

from opsloop.aiops.logs.config import MinerConfig
from opsloop.aiops.logs.masking import WILDCARD, Masker
from opsloop.aiops.logs.miner import LogMiner, Match
from opsloop.aiops.logs.stats import MinerStats
from opsloop.aiops.logs.store import InMemoryTemplateStore, TemplateStore, load_snapshot, save_snapshot
from opsloop.aiops.logs.templates import Template, TemplateVersion

__all__ = [
    "WILDCARD",
    "InMemoryTemplateStore",
    "LogMiner",
    "Masker",
    "Match",
    "MinerConfig",
    "MinerStats",
    "Template",
    "TemplateStore",
    "TemplateVersion",
    "load_snapshot",
    "save_snapshot",
]
