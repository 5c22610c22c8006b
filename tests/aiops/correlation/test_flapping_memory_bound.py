"""The flap detector forgets the least recently reported fingerprints when it holds too many, not the
first ever reported: an alert flapping since before a churn of one-shot alerts (pods come and go) stays
flapping, and so keeps its incident from resolving and re-opening (and paging) at every flip."""

from __future__ import annotations

from opsloop.aiops.correlation.flapping import FlapDetector


def test_a_flapping_alert_is_not_forgotten_for_newer_quiet_ones() -> None:
    flaps = FlapDetector(window_s=600, threshold=4, max_fingerprints=20)
    t = 1000.0
    status = "firing"
    for i in range(40):  # the flapping alert flips every 10 s while one-shot alerts come and go
        flaps.record("flappy", status, t)
        status = "resolved" if status == "firing" else "firing"
        flaps.record(f"pod-{i}", "firing", t + 1)
        t += 10
    assert flaps.record("flappy", status, t) is True
    assert "flappy" in flaps.flapping(t)
