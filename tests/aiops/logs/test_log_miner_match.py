"""``LogMiner.match`` gives the live template a line would join: a line seen before, whose template was merged
into a sibling since, gave the merged record (its old text, ``merged_into`` set)."""

from __future__ import annotations

from opsloop.aiops.logs import LogMiner


def test_match_of_a_line_whose_template_was_merged_gives_the_survivor() -> None:
    miner = LogMiner()
    ids = [miner.add(f"user {name} logged in", service="auth").template_id for name in ("alice", "bob", "carol")]
    survivor = miner.resolve(ids[1])
    assert survivor != ids[1]  # bob's template was merged into alice's
    for name in ("alice", "bob", "carol", "dave"):
        found = miner.match(f"user {name} logged in", service="auth")
        assert found is not None and (found.id, found.merged_into, found.text) == (survivor, None, "user <*> logged in")
