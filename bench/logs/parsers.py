"""The two parsers under test, behind one small interface: add(line, service) -> group, template(group)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))

from opsloop.aiops.logs import HeaderParser, LogMiner  # noqa: E402

__all__ = ["PARSERS", "DrainParser", "HeaderParser", "OpsloopParser"]

# The masking instructions from Drain3's README (examples/drain3.ini), unchanged.
DRAIN3_MASKING = [
    {
        "regex_pattern": r"((?<=[^A-Za-z0-9])|^)(([0-9a-f]{2,}:){3,}([0-9a-f]{2,}))((?=[^A-Za-z0-9])|$)",
        "mask_with": "ID",
    },
    {
        "regex_pattern": r"((?<=[^A-Za-z0-9])|^)(\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3})((?=[^A-Za-z0-9])|$)",
        "mask_with": "IP",
    },
    {"regex_pattern": r"((?<=[^A-Za-z0-9])|^)([0-9a-f]{6,} ?){3,}((?=[^A-Za-z0-9])|$)", "mask_with": "SEQ"},
    {"regex_pattern": r"((?<=[^A-Za-z0-9])|^)([0-9A-F]{4} ?){4,}((?=[^A-Za-z0-9])|$)", "mask_with": "SEQ"},
    {"regex_pattern": r"((?<=[^A-Za-z0-9])|^)(0x[a-f0-9A-F]+)((?=[^A-Za-z0-9])|$)", "mask_with": "HEX"},
    {"regex_pattern": r"((?<=[^A-Za-z0-9])|^)([\-\+]?\d+)((?=[^A-Za-z0-9])|$)", "mask_with": "NUM"},
    {"regex_pattern": r"(?<=executed cmd )(\".+?\")", "mask_with": "CMD"},
]


class OpsloopParser:
    def __init__(self) -> None:
        self.miner = LogMiner()

    def add(self, line: str, service: str) -> int:
        return self.miner.add(line, service=service, time=0.0).template_id

    def final(self, group: int) -> int:
        return self.miner.resolve(group)

    def template(self, group: int) -> str:
        return self.miner.template(self.miner.resolve(group)).text

    def size(self) -> int:
        return len(self.miner.templates())


class DrainParser:
    def __init__(self) -> None:
        try:
            from drain3 import TemplateMiner
            from drain3.masking import MaskingInstruction
            from drain3.template_miner_config import TemplateMinerConfig
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise SystemExit("drain3 is missing: pip install --no-deps drain3==0.9.11 jsonpickle") from exc
        config = TemplateMinerConfig()
        config.masking_instructions = [
            MaskingInstruction(m["regex_pattern"], m["mask_with"]) for m in DRAIN3_MASKING
        ]
        config.profiling_enabled = False
        self.miners: dict[str, object] = {}
        self._config = config
        self._miner_class = TemplateMiner

    def add(self, line: str, service: str) -> tuple[str, int]:
        miner = self.miners.get(service)
        if miner is None:
            miner = self.miners[service] = self._miner_class(config=self._config)
        return service, miner.add_log_message(line)["cluster_id"]

    def final(self, group: tuple[str, int]) -> tuple[str, int]:
        return group

    def template(self, group: tuple[str, int]) -> str:
        service, cid = group
        return self.miners[service].drain.id_to_cluster[cid].get_template()

    def size(self) -> int:
        return sum(len(m.drain.clusters) for m in self.miners.values())


PARSERS = {"opsloop": OpsloopParser, "drain3": DrainParser}
