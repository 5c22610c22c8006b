"""Odd input is handled without crashing or unbounded growth, and shows in the stats."""

from __future__ import annotations

import os
import random

from opsloop.aiops.logs import LogIngestor, LogMiner, MinerConfig


def test_binary_garbage_is_filed_under_one_template() -> None:
    miner = LogMiner()
    rng = random.Random(1)
    ids = {
        miner.add(bytes(rng.randrange(256) for _ in range(200)), service="s").template_id for _ in range(50)
    }
    assert len(ids) <= 2  # a few garbage lines may decode mostly printable
    assert miner.stats.binary_lines >= 45
    assert miner.stats.invalid_utf8 >= 45


def test_invalid_utf8_is_decoded_with_replacement() -> None:
    miner = LogMiner()
    match = miner.add(b"user \xff\xfe logged in from 10.0.0.1", service="s")
    assert miner.stats.invalid_utf8 == 1
    assert "logged in from <*>" in miner.template(match.template_id).text


def test_a_one_megabyte_line_is_truncated() -> None:
    miner = LogMiner()
    line = "payload " + "x" * (1 << 20)
    match = miner.add(line, service="s")
    assert miner.stats.truncated_lines == 1
    template = miner.template(match.template_id)
    assert len(template.text) <= miner.config.max_line_chars
    assert all(len(e) <= 512 for e in template.examples)
    index = miner._services["s"]
    assert not index.line_cache and not index.shape_cache  # huge lines are never cached
    assert miner.add(line, service="s").template_id == match.template_id


def test_a_line_with_very_many_tokens_is_capped() -> None:
    miner = LogMiner(MinerConfig(max_tokens=32))
    match = miner.add(" ".join(f"w{i}x" for i in range(5000)), service="s")
    assert len(miner.template(match.template_id).tokens) == 32


def test_empty_and_blank_lines_share_one_template() -> None:
    miner = LogMiner()
    ids = {miner.add(line, service="s").template_id for line in ["", "   ", "\t", ""]}
    assert len(ids) == 1
    assert miner.stats.empty_lines == 3  # the repeated "" takes the fast path


def test_flood_of_unique_lines_is_bounded() -> None:
    config = MinerConfig(max_templates=200, line_cache_size=1000)
    miner = LogMiner(config)
    rng = random.Random(7)
    for _ in range(5000):
        words = " ".join(os.urandom(4).hex().replace("0", "g") + rng.choice("qwxyz") for _ in range(6))
        miner.add(f"event {words}", service="flood")
    assert len(miner.templates()) <= config.max_templates + 1
    assert miner.stats.overflow_lines > 0
    assert miner.stats.cache_resets > 0
    overflow = [t for t in miner.templates("flood") if t.text == "<*>"]
    assert len(overflow) == 1 and overflow[0].count == miner.stats.overflow_lines
    index = miner._services["flood"]
    assert len(index.line_cache) <= config.line_cache_size
    assert len(index.masked_cache) <= config.line_cache_size


def test_flood_of_services_is_bounded() -> None:
    miner = LogMiner(MinerConfig(max_services=5))
    for i in range(20):
        miner.add("hello", service=f"svc-{i}")
    assert len(miner.services()) == 6  # five plus the overflow service
    assert miner.stats.overflow_services == 15


def test_ingestor_survives_every_bad_input_kind() -> None:
    ingestor = LogIngestor()
    for line in [b"\x00\x01\x02\x03\x04\x05", b"\xc3\x28 broken", "", "x" * (1 << 20), "ok 1"]:
        ingestor.ingest(line, service="s", time=1.0)
    stats = ingestor.miner.stats
    assert (stats.binary_lines, stats.invalid_utf8, stats.empty_lines, stats.truncated_lines) == (1, 1, 1, 1)


def test_ingestor_state_stays_bounded_under_a_flood_of_services() -> None:
    from opsloop.aiops.logs import LogAnomalyConfig, LogAnomalyDetector

    ingestor = LogIngestor(
        LogMiner(MinerConfig(max_services=10)), LogAnomalyDetector(LogAnomalyConfig(max_series=20))
    )
    for i in range(500):
        ingestor.ingest(f"hello from {i}", service=f"svc-{i}", time=float(i))
    assert len(ingestor.headers) <= 11
    assert len(ingestor.detector._series) <= 20
    assert len(ingestor.detector._first_seen) <= 20
    assert ingestor.detector.dropped_series > 0
