"""The severity words senders use map to opsloop's four severities; nothing is a traceback."""

from __future__ import annotations

import pytest

from opsloop.core.signals import Severity


@pytest.mark.parametrize(("word", "expected"), [
    # syslog's levels, .NET's and OpenTelemetry's texts (with OTel's number suffix), Go's panic
    ("EMERG", Severity.CRITICAL), ("emergency", Severity.CRITICAL), ("alert", Severity.CRITICAL),
    ("Information", Severity.INFO), ("VERBOSE", Severity.INFO), ("WARN2", Severity.WARNING),
    ("ERROR3", Severity.ERROR), ("FATAL4", Severity.CRITICAL), ("DEBUG2", Severity.INFO),
    ("panic", Severity.CRITICAL),
    # incident priorities, highest first, however they are spelled
    ("P1", Severity.CRITICAL), ("p2", Severity.ERROR), ("P3", Severity.WARNING), ("P4", Severity.INFO),
    ("SEV1", Severity.CRITICAL), ("Sev-2", Severity.ERROR), ("sev 3", Severity.WARNING), ("SEV_4", Severity.INFO),
    # Zabbix's severities
    ("Disaster", Severity.CRITICAL), ("High", Severity.ERROR), ("Average", Severity.WARNING),
    ("Not classified", Severity.INFO),
    # a number in a string means what the number means
    ("1", Severity.INFO), ("3", Severity.ERROR), ("4", Severity.CRITICAL), ("9", Severity.CRITICAL),
    (3, Severity.ERROR),
    # the usual words, unchanged
    ("critical", Severity.CRITICAL), (" Warning ", Severity.WARNING), ("info", Severity.INFO),
])
def test_sender_words(word: str | int, expected: Severity) -> None:
    assert Severity.parse(word) is expected


@pytest.mark.parametrize("word", ["", None, "whatever", "sev12", "p", "¿?", "warn9"])
def test_an_unknown_word_is_a_warning(word: str | None) -> None:
    assert Severity.parse(word) is Severity.WARNING
