"""One service flooding the miner with unique lines (user text, unmasked ids) fills its own share of the
template budget, not everyone's: the other services still learn new templates (and their new-template
anomalies still fire)."""

from __future__ import annotations

import random

from opsloop.aiops.logs import LogMiner, MinerConfig


def _flood(miner: LogMiner, lines: int, seed: int = 3) -> None:
    rng = random.Random(seed)
    letters = "abcdefghijklmnopqrstuvwxyz"
    for _ in range(lines):
        words = " ".join("".join(rng.choice(letters) for _ in range(7)) for _ in range(5))
        miner.add(f"search {words}", service="search")


def test_a_flooding_service_cannot_starve_the_others() -> None:
    miner = LogMiner(MinerConfig(max_templates=200))
    miner.add("payment accepted for order 1", service="pay")
    _flood(miner, 1000)
    match = miner.add("refund issued for order 2", service="pay")
    assert match.change == "created"
    assert miner.template(match.template_id).text == "refund issued for order <*>"
    flooded = [t for t in miner.templates("search") if t.text != "<*>"]
    assert len(flooded) <= 200 // 4 and miner.stats.overflow_lines > 0


def test_the_share_comes_back_after_a_restore() -> None:
    miner = LogMiner(MinerConfig(max_templates=200))
    _flood(miner, 1000)
    restored = LogMiner.restore(miner.snapshot())
    before = restored.stats.overflow_lines
    _flood(restored, 10, seed=4)
    assert restored.stats.overflow_lines > before
    assert restored.add("refund issued for order 2", service="pay").change == "created"
