"""Which dependency an inhibition names does not depend on the process's string hash seed (the order in
which Python iterates a set of service names), so the same alerts store the same reasons after a restart."""

from __future__ import annotations

from tests.aiops.correlation._hash_seed import run_with_hash_seed

# checkout depends on twelve services, all firing: every one of them could be named
SCRIPT = r'''
import json
from opsloop.aiops.correlation.inhibition import Inhibitor
from opsloop.aiops.correlation.topology import Topology
from opsloop.core.signals import Severity, Signal

deps = [f"dep-{i:02d}" for i in range(12)]
inhibitor = Inhibitor(topology=Topology([("checkout", d) for d in deps]))
for i, d in enumerate(deps):
    root = Signal(time=1000.0, source="am", service=d, severity=Severity.CRITICAL, labels={"alertname": "Down"})
    inhibitor.firing(root, f"fp-{i}")
sig = Signal(time=1010.0, source="am", service="checkout", labels={"alertname": "Errors"})
print(json.dumps(inhibitor.check(sig, "fp-x")))
'''


def _reason(seed: str) -> str:
    return run_with_hash_seed(SCRIPT, seed)


def test_the_inhibition_reason_is_the_same_whatever_the_hash_seed() -> None:
    first = _reason("1")
    assert first.startswith("inhibited: checkout depends on dep-00 (1 hop)"), first
    assert all(_reason(seed) == first for seed in ("2", "3", "4", "5"))
