"""``max_templates`` bounds the live templates: those merged into a sibling no longer take a place (they filled
the budget, and new lines of every service went to the overflow template while fewer templates were live)."""

from __future__ import annotations

from opsloop.aiops.logs import LogMiner, MinerConfig

NEW = ["alpha started", "beta stopped", "gamma crashed", "delta queued"]


def _merged_logins(miner: LogMiner) -> int:
    """Three logins of different users: three templates, merged into one (two ids that resolve to it)."""
    ids = [miner.add(f"user {name} logged in", service="auth").template_id for name in ("alice", "bob", "carol")]
    assert {miner.resolve(i) for i in ids} == {ids[0]} and miner.stats.templates_merged == 2
    return ids[0]


def test_merged_templates_leave_their_place_in_the_budget() -> None:
    miner = LogMiner(MinerConfig(max_templates=5, max_service_share=1.0))
    _merged_logins(miner)
    assert [miner.add(line, service="app").change for line in NEW] == ["created"] * 4
    assert miner.add("epsilon paused", service="app").change == "none"  # the sixth live one: overflow
    assert miner.stats.overflow_lines == 1
    assert len([t for t in miner.templates() if t.text != "<*>"]) == 5


def test_the_budget_counts_live_templates_after_a_restore() -> None:
    miner = LogMiner(MinerConfig(max_templates=5, max_service_share=1.0))
    _merged_logins(miner)
    restored = LogMiner.restore(miner.snapshot())
    assert [restored.add(line, service="app").change for line in NEW] == ["created"] * 4
    assert restored.add("epsilon paused", service="app").change == "none"
