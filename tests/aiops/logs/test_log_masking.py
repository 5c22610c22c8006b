"""Masking of common variable kinds, one configuration for every source."""

from __future__ import annotations

import pytest

from opsloop.aiops.logs import Masker
from opsloop.aiops.logs.masking import generalise_token


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("connect to 10.1.2.3:8080 failed", "connect to <*> failed"),
        ("wrote /var/log/app/out.log ok", "wrote <*> ok"),
        ("addr 0x7ffde2 bad", "addr <*> bad"),
        ("took 12.5 ms", "took <*> ms"),
        ("id 6b1f7c2e-1d2a-4c3b-9e8f-0a1b2c3d4e5f done", "id <*> done"),
        ("GET https://example.org/a?b=1 200", "GET <*> <*>"),
        ("file system [hdfs://nn-1:9000] (see http://x.org/y).", "file system [<*>] (see <*>)."),
        ("at 2024-03-01T10:00:01.5 and 10:00:02", "at <*> and <*>"),
        ("block blk_-1608999687919862906 served", "block blk_<*> served"),
        ("state (HWID=1973)", "state (HWID=<*>)"),
        ("mac 00:1b:44:11:3a:b7 up", "mac <*> up"),
        ("jk2_init() found child", "jk2_init() found child"),
        ("timeout of 10000ms, 12.5MB, 99%", "timeout of <*>, <*>, <*>"),
        ("generating core.12345 v1.2", "generating core.<*> v1.2"),
    ],
)
def test_masker_replaces_variable_kinds(line: str, expected: str) -> None:
    assert Masker().mask(line) == expected


def test_token_masking_equals_whole_line_masking() -> None:
    masker = Masker()
    for line in ["a 1 b 10.0.0.1:22 /x/y c", "user=root uid=0 euid=0", "x  y\tz 0xff", "sup \u00b2 42"]:
        assert masker.mask_tokens(line) == masker.mask(line).split()


def test_user_patterns_are_masked_first() -> None:
    assert Masker(extra_patterns=(r"ticket-[A-Z]+",)).mask("closed ticket-ABC now") == "closed <*> now"


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("(HWID=1)", "(HWID=22)", "(HWID=<*>)"),
        ("alice", "bob", "<*>"),
        ("[a]", "[bb]", "[<*>]"),
        ("x", "x", "x"),
    ],
)
def test_generalise_token_keeps_delimited_context(a: str, b: str, expected: str) -> None:
    assert generalise_token(a, b) == expected


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("token expired at 2026-12-07T19:30:00Z", "token expired at <*>"),
        ("at 2026-12-07T19:30:00.123+01:00 retry", "at <*> retry"),
        ("at 2026-12-07T19:30:00-0500 retry", "at <*> retry"),
        ('{"ts":"2026-12-07T19:30:00.123456Z","level":"info"}', '{"ts":"<*>","level":"info"}'),
        ('time="2026-12-07T19:30:00Z" level=info', 'time="<*>" level=info'),
        ("ts=2026-12-07T19:30:00.5Z msg=ok", "ts=<*> msg=ok"),
        ("since 19:30:00Z", "since <*>"),
        ('10.0.0.1 - - [07/Dec/2026:19:30:00 +0000] "GET / HTTP/1.1"', '<*> - - [<*> <*>] "GET / HTTP/<*>"'),
    ],
)
def test_masker_masks_whole_timestamps_with_their_zone(line: str, expected: str) -> None:
    """RFC 3339 times (the ``Z`` or offset that JSON and logfmt loggers write) and the access log's
    ``07/Dec/2026:19:30:00`` are one variable, not pieces around a constant day, zone or month."""
    assert Masker().mask(line) == expected
    assert Masker().mask_tokens(line) == expected.split()
