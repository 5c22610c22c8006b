"""A signal's fingerprint is the stored identity of its condition: it must never change for a signal."""

from __future__ import annotations

import hashlib
import json

import pytest

from opsloop.core.signals import Signal, SignalKind


def _stored_identity(sig: Signal) -> str:
    """The fingerprint as every stored signal has it: sha1 of the JSON of source, kind, service, labels."""
    key = json.dumps([sig.source, str(sig.kind), sig.service, sorted(sig.labels.items())])
    return hashlib.sha1(key.encode()).hexdigest()[:16]


@pytest.mark.parametrize("labels", [
    {},
    {"alertname": "HighLatency", "service": "checkout", "instance": "checkout-7"},
    {"path": 'C:\\temp\\"quoted"', "tab": "a\tb\nc", "ctl": "\x00\x1f\x7f"},
    {"name": "caf\u00e9 \u6f22 \U0001f600", "lone": "\ud800"},
    {"b": "2", "a": "1", "": ""},
])
def test_fingerprint_is_the_stored_identity_for_any_text(labels: dict[str, str]) -> None:
    for kind in (SignalKind.ALERT, "log", "custom \u00e9"):
        sig = Signal(time=1.0, source='am "prod"', kind=kind, service="svc\\1", labels=labels)
        assert sig.fingerprint() == _stored_identity(sig)


def test_a_label_value_that_is_not_a_string_fingerprints_as_before() -> None:
    sig = Signal(time=1.0, source="x", labels={"code": 500, "ok": True})  # type: ignore[dict-item]
    assert sig.fingerprint() == _stored_identity(sig)
