"""The streaming miner: stable ids, versions, merges, queries, persistence."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from opsloop.aiops.logs import (
    HeaderParser,
    InMemoryTemplateStore,
    LogMiner,
    MinerConfig,
    load_snapshot,
    save_snapshot,
)
from opsloop.errors import InvalidInputError, NotFoundError

FIXTURES = Path(__file__).parent / "fixtures"


def _mine(lines: list[str], miner: LogMiner | None = None) -> tuple[LogMiner, list[int]]:
    miner = miner or LogMiner()
    parser = HeaderParser()
    ids = []
    for i, line in enumerate(lines):
        record = parser.parse(line)
        ids.append(miner.add(record.message, service="shop", time=1000.0 + i, level=record.level).template_id)
    return miner, ids


def test_fixture_lines_give_the_expected_templates() -> None:
    lines = (FIXTURES / "service.log").read_text(encoding="utf-8").splitlines()
    expected = set((FIXTURES / "expected_templates.txt").read_text(encoding="utf-8").splitlines())
    miner, _ = _mine(lines)
    assert {t.text for t in miner.templates("shop")} == expected


def test_template_id_is_stable_when_the_template_generalises() -> None:
    miner = LogMiner()
    first = miner.add("Connection from host-a1 closed (reason: idle)", time=1.0)
    second = miner.add("Connection from host-b2 closed (reason: idle)", time=2.0)
    assert first.change == "created"
    assert second.template_id == first.template_id
    assert second.change == "generalised"
    template = miner.template(first.template_id)
    assert template.version == 2
    assert template.versions[0].text == "Connection from host-a1 closed (reason: idle)"
    assert template.text == "Connection from host-<*> closed (reason: idle)"


def test_different_words_are_not_unified_by_one_line() -> None:
    miner = LogMiner()
    a = miner.add("Failed password for root from 1.2.3.4 port 22 ssh2").template_id
    b = miner.add("Accepted password for root from 1.2.3.4 port 22 ssh2").template_id
    assert a != b


def test_a_word_position_that_keeps_varying_is_merged_and_old_ids_resolve() -> None:
    miner = LogMiner()
    ids = [
        miner.add(f"Invalid user {name} from 10.0.0.{i}").template_id
        for i, name in enumerate(["alice", "bob", "carol", "dave"])
    ]
    assert len({miner.resolve(i) for i in ids}) == 1
    live = miner.template(miner.resolve(ids[0]))
    assert live.text == "Invalid user <*> from <*>"
    assert live.count == 4
    assert miner.stats.templates_merged >= 2
    assert miner.template(ids[1]).merged_into == live.id
    assert [t.id for t in miner.templates()] == [live.id]


def test_parameters_are_extracted_from_a_line() -> None:
    miner = LogMiner()
    tid = miner.add("Retry 1 of 3 contacting gateway 10.0.3.17:8443").template_id
    template = miner.template(tid)
    assert template.parameters("Retry 2 of 5 contacting gateway 10.0.3.18:8443") == [
        "2",
        "5",
        "10.0.3.18:8443",
    ]
    assert template.parameters("too short") == []
    assert template.parameter_examples() == [["1", "3", "10.0.3.17:8443"]]


def test_repeated_lines_take_the_fast_path_and_counts_are_kept() -> None:
    miner = LogMiner(MinerConfig(bucket_seconds=60))
    for i in range(10):
        miner.add("heartbeat ok", service="api", time=float(i * 30), level="INFO")
    template = miner.templates("api")[0]
    assert miner.stats.line_cache_hits == 9
    assert template.count == 10
    assert template.buckets == {0: 2, 60: 2, 120: 2, 180: 2, 240: 2}
    assert template.series(since=120) == [(120, 2), (180, 2), (240, 2)]
    assert template.levels == {"INFO": 10}
    assert template.examples == ["heartbeat ok"]
    assert template.first_seen == 0.0 and template.last_seen == 270.0


def test_services_are_kept_apart() -> None:
    miner = LogMiner()
    a = miner.add("started worker 1", service="a").template_id
    b = miner.add("started worker 2", service="b").template_id
    assert a != b
    assert miner.services() == ["a", "b"]
    assert [t.id for t in miner.templates("a")] == [a]


def test_match_does_not_learn() -> None:
    miner = LogMiner()
    miner.add("disk /dev/sda1 is 91% full", service="s")
    assert miner.match("disk /dev/sdb2 is 93% full", service="s") is not None
    assert miner.match("something else entirely", service="s") is None
    assert miner.stats.lines == 1


def test_unknown_template_id_raises_not_found() -> None:
    with pytest.raises(NotFoundError):
        LogMiner().template(42)


def test_store_sees_births_and_versions_and_counts_after_flush() -> None:
    store = InMemoryTemplateStore()
    miner = LogMiner(store=store)
    tid = miner.add("job 1 done", service="batch", time=5.0).template_id
    miner.add("job 2 done", service="batch", time=6.0)
    assert store.get(tid).text == "job <*> done"
    assert store.get(tid).count == 0  # counts reach the store on flush
    assert miner.flush() == 1
    assert store.get(tid).count == 2
    assert store.services() == ["batch"]
    assert [t.id for t in store.list("batch")] == [tid]
    assert store.delete_service("batch") == 1
    with pytest.raises(NotFoundError):
        store.get(tid)


def test_flush_writes_every_changed_template_in_one_call_to_a_store_that_saves_many() -> None:
    class BatchStore(InMemoryTemplateStore):
        def __init__(self) -> None:
            super().__init__()
            self.batches: list[list[int]] = []

        def save_many(self, templates: list) -> None:  # noqa: ANN001
            self.batches.append([t.id for t in templates])
            for t in templates:
                self.save(t)

    store = BatchStore()
    miner = LogMiner(store=store)
    ids = [miner.add(line, service="svc", time=1.0).template_id for line in ("disk full", "user 7 logged in")]
    assert miner.flush() == 2
    assert store.batches == [sorted(ids)]
    assert [store.get(i).count for i in ids] == [1, 1]
    assert miner.flush() == 0 and store.batches[-1] == []


def test_snapshot_round_trip_keeps_ids_versions_and_matching(tmp_path: Path) -> None:
    lines = (FIXTURES / "service.log").read_text(encoding="utf-8").splitlines()
    miner, ids = _mine(lines)
    path = tmp_path / "miner.json"
    save_snapshot(miner, path)
    restored = load_snapshot(path)
    assert [t.to_dict() for t in restored.templates()] == [t.to_dict() for t in miner.templates()]
    again = restored.add(HeaderParser().parse(lines[0]).message, service="shop", time=2000.0)
    assert again.template_id == miner.resolve(ids[0])
    assert restored.add("a brand new kind of line", service="shop").template_id > max(ids)


def test_snapshot_with_an_unknown_format_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"format": 99}), encoding="utf-8")
    with pytest.raises(InvalidInputError):
        load_snapshot(path)


def test_config_is_validated() -> None:
    with pytest.raises(InvalidInputError):
        MinerConfig(similarity_threshold=0.0)
    with pytest.raises(InvalidInputError):
        MinerConfig(max_templates=0)
    with pytest.raises(InvalidInputError):
        MinerConfig(sibling_merge=1)


def test_digits_left_unmasked_still_generalise_lines_of_the_same_shape() -> None:
    miner = LogMiner()
    miner.add("Expiring session 0x24ede63a01b003b, timeout of 10000ms exceeded", time=1.0)
    tid = miner.add("Expiring session 0x24ede63a01b003c, timeout of 40000ms exceeded", time=2.0).template_id
    assert miner.template(tid).text == "Expiring session <*>, timeout of <*> exceeded"


def test_lines_of_the_same_shape_skip_the_search() -> None:
    miner = LogMiner()
    miner.add("served 12 requests in 30 ms", service="api")
    miner.add("served 47 requests in 85 ms", service="api")
    assert miner.stats.masked_cache_hits == 1
    assert miner.stats.templates_created == 1


def test_a_sibling_merge_keeps_the_delimited_context() -> None:
    miner = LogMiner()
    for name in ["root", "admin", "guest", "oracle"]:
        tid = miner.add(f"authentication failure; rhost=10.0.0.1 user={name}").template_id
    assert miner.template(miner.resolve(tid)).text == "authentication failure; rhost=<*> user=<*>"


def _covers(template: list[str], tokens: list[str]) -> bool:
    import re

    if len(template) != len(tokens):
        return False
    for t, x in zip(template, tokens, strict=True):
        if t == x or t == "<*>":
            continue
        pattern = ".*".join(re.escape(part) for part in t.split("<*>"))
        if "<*>" not in t or not re.fullmatch(pattern, x):
            return False
    return True


def test_every_line_still_fits_its_template_after_all_merges() -> None:
    import random

    rng = random.Random(3)
    verbs = ["opened", "closed", "reset", "failed"]
    names = ["alice", "bob", "carol", "dave", "erin", "frank"]
    lines = []
    for _ in range(600):
        shape = rng.randrange(4)
        if shape == 0:
            lines.append(f"session {rng.randrange(999)} {rng.choice(verbs)} for user {rng.choice(names)}")
        elif shape == 1:
            lines.append(
                f"user={rng.choice(names)} uid={rng.randrange(99)} tty=ssh host=h{rng.randrange(9)}.lan"
            )
        elif shape == 2:
            lines.append(f"Worker {rng.choice(names)} took {rng.randrange(99)} ms on [{rng.choice(verbs)}]")
        else:
            lines.append(" ".join(rng.choice(names + verbs) for _ in range(rng.randrange(1, 6))))
    miner = LogMiner()
    ids = [miner.add(line, service="p").template_id for line in lines]
    for line, tid in zip(lines, ids, strict=True):
        live = miner.template(miner.resolve(tid))
        assert live.merged_into is None
        assert _covers(live.tokens, miner.masker.mask_tokens(line)), (line, live.text)


def test_merged_ids_survive_a_snapshot_and_reach_the_store() -> None:
    store = InMemoryTemplateStore()
    miner = LogMiner(store=store)
    ids = [
        miner.add(f"Invalid user {name} from 10.0.0.1").template_id for name in ["ann", "ben", "cid", "dan"]
    ]
    live = miner.resolve(ids[1])
    assert store.get(ids[1]).merged_into == live
    restored = LogMiner.restore(json.loads(json.dumps(miner.snapshot())))
    assert [restored.resolve(i) for i in ids] == [live] * 4
    assert restored.add("Invalid user eve from 10.0.0.9").template_id == live
