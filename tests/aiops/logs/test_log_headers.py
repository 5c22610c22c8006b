"""Header fields are split from the message by recognised layouts or a user format."""

from __future__ import annotations

import pytest

from opsloop.aiops.logs import HeaderParser, LogFormat, is_error_level
from opsloop.errors import InvalidInputError


@pytest.mark.parametrize(
    ("line", "message", "level", "component"),
    [
        (
            "2024-03-01 10:00:01,120 INFO [main] com.shop.Checkout: Order 1 placed",
            "Order 1 placed",
            "INFO",
            "com.shop.Checkout",
        ),
        ("Mar  1 10:00:01 host1 sshd[411]: Accepted key for bob", "Accepted key for bob", "", "sshd"),
        ("[Fri Mar 01 10:00:01 2024] [error] child died", "child died", "ERROR", ""),
        ("24/03/01 10:00:01 WARN mem.Pool: low memory", "low memory", "WARN", "mem.Pool"),
        ("240301 100001 77 INFO net.Server: listening", "listening", "INFO", "net.Server"),
        ("2024-03-01 10:00:01,5 - ERROR [Worker[id=1]/0:Sync@12] - sync lost", "sync lost", "ERROR", ""),
        ("- 1709287201 R01-M0 RAS KERNEL FATAL cache failure", "cache failure", "FATAL", ""),
    ],
)
def test_common_layouts_are_recognised(line: str, message: str, level: str, component: str) -> None:
    record = HeaderParser().parse(line)
    assert (record.message, record.level, record.component) == (message, level, component)


def test_unknown_layout_keeps_the_whole_line() -> None:
    record = HeaderParser().parse("just some words here")
    assert record.message == "just some words here"
    assert record.layout == "none"


@pytest.mark.parametrize(("line", "layout", "level"), [
    ("node7 12:00:01\tWARNING\tdisk.Monitor: nearly full", "level-led", "WARN"),
    ("2 ERRORS in batch 7 after retry", "none", ""),
    ("WARN retrying upstream call attempt=3 after 120ms", "none", ""),
    ("host 1 INFO", "none", ""),
])
def test_a_level_led_header_needs_a_level_word_between_white_space(line: str, layout: str, level: str) -> None:
    record = HeaderParser().parse(line)
    assert (record.layout, record.level) == (layout, level)


def test_user_format_string_wins_over_recognition() -> None:
    parser = HeaderParser("<Node> <Kind> <Level>: <Content>")
    record = parser.parse("node-7 hw error: fan 3 stopped")
    assert record.message == "fan 3 stopped"
    assert record.level == "ERROR"
    assert record.fields["Node"] == "node-7"
    assert record.layout == "user"


def test_format_without_content_is_rejected() -> None:
    with pytest.raises(InvalidInputError):
        LogFormat("<Date> <Time>")


def test_error_levels() -> None:
    assert is_error_level("ERROR") and is_error_level("FATAL")
    assert not is_error_level("WARN")


@pytest.mark.parametrize(("line", "level"), [
    ('time="2026-12-07T19:30:00Z" level=error msg="payment failed" order=42', "ERROR"),  # logrus
    ("level=warn ts=2026-12-07T19:30:00.123Z caller=main.go:42 msg=slow", "WARN"),  # go-kit (Prometheus, Loki)
    ("time=2026-12-07T19:30:00.123Z level=ERROR source=main.go:42 msg=boom", "ERROR"),  # Go's slog
    ('{"level":"error","ts":"2026-12-07T19:30:00.123Z","msg":"payment failed","order":42}', "ERROR"),  # zap
    ('{"timestamp": "2026-12-07T19:30:00Z", "severity": "WARNING", "message": "slow"}', "WARN"),
    ('{"level":50,"time":1796671200000,"msg":"payment failed"}', "ERROR"),  # pino and bunyan: 50 is error
    ("2026-12-07 19:30:00,123 - shop.payments - CRITICAL - db down", "CRITICAL"),  # Python's cookbook format
    ("ERROR:root:payment failed", "ERROR"),  # Python's basicConfig
    ("E1207 19:30:00.123456   12345 controller.go:123] sync failed", "ERROR"),  # klog (Kubernetes)
    ("W1207 19:30:00.123456       1 reflector.go:42] watch ended", "WARN"),
    ('t=2026-12-07T19:30:00+0000 lvl=eror msg="peer dropped" id=7', "ERROR"),  # log15
    ("user bob set the log level to error", ""),
    ('{"msg":"level unchanged","old":"error"}', ""),
])
def test_structured_lines_give_their_level(line: str, level: str) -> None:
    """A level written as a field (logfmt, JSON, Python's and klog's headers) is the line's level; the
    message is the line as before (its template does not change)."""
    record = HeaderParser().parse(line)
    assert record.level == level
    assert line.endswith(record.message)
