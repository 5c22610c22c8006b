"""Compact JSON lines (Go's encoding/json, zap, logrus, pino, a JSON body from OTLP: no space after a
comma or colon) are mined value by value: a user name that changes is a parameter, not a new template
(and after warmup, a new-template anomaly) per line."""

from __future__ import annotations

import random

from opsloop.aiops.logs import LogMiner


def _names(n: int) -> list[str]:
    rng = random.Random(1)
    return ["".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(6)) for _ in range(n)]


def test_compact_json_values_that_are_words_become_parameters() -> None:
    miner = LogMiner()
    for name in _names(20):
        miner.add(f'{{"event":"login","user":"{name}","status":"ok"}}', service="auth")
    templates = miner.templates("auth")
    assert [t.text for t in templates] == ['{"event": "login", "user": "<*>", "status": "ok"}']
    assert templates[0].count == 20
    assert [len(p) for p in templates[0].parameter_examples()] == [1, 1, 1]


def test_commas_and_colons_inside_strings_are_left_alone() -> None:
    miner = LogMiner()
    match = miner.add('{"msg":"retry a,b:c","attempt":3,"tags":["x","y"]}', service="s")
    assert miner.template(match.template_id).examples == ['{"msg": "retry a,b:c", "attempt": 3, "tags": ["x", "y"]}']
    assert miner.match('{"msg":"retry a,b:c","attempt":4,"tags":["x","y"]}', service="s") is not None


def test_spaced_json_and_plain_lines_are_mined_as_before() -> None:
    miner = LogMiner()
    spaced = '{"event": "login", "user": "bob"}'
    assert miner.template(miner.add(spaced, service="s").template_id).examples == [spaced]
    plain = "user bob logged in: ok, 3 tries"
    assert miner.template(miner.add(plain, service="s").template_id).examples == [plain]
