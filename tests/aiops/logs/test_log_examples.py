"""A template's examples are different lines: a line longer than an example keeps (512 characters), sent again
and again (a Java stack trace through Promtail's multiline stage, a large JSON line), is one example, not the
same cut text up to three times."""

from __future__ import annotations

from opsloop.aiops.logs import LogMiner


def test_a_long_line_repeated_is_one_example() -> None:
    miner = LogMiner()
    line = "request failed: " + " ".join(f"frame{i}" for i in range(200))
    for _ in range(5):
        tid = miner.add(line, service="api").template_id
    miner.add("request failed: short", service="other")
    template = miner.template(tid)
    assert template.count == 5 and template.examples == [line[:512]]
    other = line.replace("frame0", "frame9999")
    assert miner.add(other, service="api").template_id == tid
    assert template.examples == [line[:512], other[:512]]
