"""The UI's pure functions, run as ES modules inside Chromium (no Node.js needed)."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.browser


def _call(page, module: str, expr: str):  # noqa: ANN001, ANN202
    page.goto("/#/nowhere")
    return page.evaluate(f"import('/static/{module}').then((m) => {expr})")


def test_csv_preview_parses_quotes_and_line_endings(page) -> None:  # noqa: ANN001
    rows = _call(page, "pages/run.js", 'm.parseCsv(\'id,label\\r\\n1,"cat, big"\\n2,"say ""hi"""\\n\')')
    assert rows == [["id", "label"], ["1", "cat, big"], ["2", 'say "hi"']]


def test_smoothing_is_debiased_and_keeps_constant_series(page) -> None:  # noqa: ANN001
    assert _call(page, "charts.js", "m.smooth([[0, 2], [1, 2], [2, 2]], 0.9)") == [[0, 2], [1, 2], [2, 2]]
    assert _call(page, "charts.js", "m.smooth([[0, 1], [1, 3]], 0)") == [[0, 1], [1, 3]]


def test_axis_ticks_are_round_numbers(page) -> None:  # noqa: ANN001
    assert _call(page, "charts.js", "m.niceTicks(0, 1, 5)") == [0, 0.2, 0.4, 0.6, 0.8, 1]
    assert _call(page, "charts.js", "m.niceTicks(3, 97, 4)") == [20, 40, 60, 80]


def test_anomaly_evidence_shapes_become_series(page) -> None:  # noqa: ANN001
    expr = ("[m.seriesOf({evidence: {points: [[2, 5], [1, 4]]}}),"
            " m.seriesOf({evidence: {series: [{time: 1, value: 3, expected_low: 1, expected_high: 4}]}}),"
            " m.seriesOf({evidence: {observed: 3}})]")
    plain, banded, none = _call(page, "pages/incident.js", expr)
    assert [p[:2] for p in plain] == [[1, 4], [2, 5]]
    assert banded == [[1, 3, 1, 4]]
    assert none == []


def test_an_incident_names_the_models_its_drift_and_performance_signals_are_about(page) -> None:  # noqa: ANN001
    expr = ("m.modelsOf([{kind: 'model_drift', labels: {model: 'fraud', feature: 'a'}},"
            " {kind: 'model_performance', labels: {model: 'churn', metric: 'accuracy'}},"
            " {kind: 'model_drift', labels: {model: 'fraud', feature: 'b'}},"
            " {kind: 'alert', labels: {model: 'not-a-model-signal'}}, {kind: 'model_drift', labels: {}}])")
    assert _call(page, "pages/incident.js", expr) == ["churn", "fraud"]


def test_time_axis_ticks_fit_the_span_of_the_points(page) -> None:  # noqa: ANN001
    # One sample (a deployment's first 5 s, a metric logged once) used to pad the axis by 5% of the epoch
    # time, about two years each side, so its ticks read as dates ("6/15", "1/15").
    expr = ("(() => { const div = document.createElement('div'); div.style.width = '600px'; document.body.append(div);"
            " m.lineChart(div, {series: [{name: 'a', color: '#000', points: [[Date.UTC(2026, 0, 1, 12), 1]]}],"
            " xTime: true}); const xs = [...div.querySelectorAll('text.tick')]"
            ".filter((t) => t.getAttribute('text-anchor') === 'middle').map((t) => t.textContent); div.remove(); return xs; })()")
    ticks = _call(page, "charts.js", expr)
    assert ticks and all("/" not in t and ":" in t for t in ticks), ticks
    # points logged within a second (a fast loop) get ticks that differ, not "24:18" three times
    ticks = _call(page, "charts.js", expr.replace("[[Date.UTC(2026, 0, 1, 12), 1]]",
                                                  "[[Date.UTC(2026, 0, 1, 12), 1], [Date.UTC(2026, 0, 1, 12) + 300, 2]]"))
    assert len(ticks) >= 2 and len(set(ticks)) == len(ticks), ticks
    # whole-second ticks (two 5 s samples of a deployment) read HH:MM:SS, not an ambiguous MM:SS
    ticks = _call(page, "charts.js", expr.replace("[[Date.UTC(2026, 0, 1, 12), 1]]",
                                                  "[[Date.UTC(2026, 0, 1, 12), 1], [Date.UTC(2026, 0, 1, 12) + 5000, 2]]"))
    assert ticks and all("." not in t and t.count(":") == 2 for t in ticks), ticks


def test_an_all_zero_series_gets_a_zero_to_one_axis_with_the_line_on_the_baseline(page) -> None:  # noqa: ANN001
    # An all-zero series (no errors, no requests) drew a -1..1 axis with the line floating in the middle.
    expr = """(() => {
      const div = document.createElement('div'); div.style.width = '600px'; document.body.append(div);
      m.lineChart(div, {series: [{name: 'errors', color: '#000', points: [[0, 0], [1, 0], [2, 0]]}], yMin: 0});
      const ticks = [...div.querySelectorAll('text.tick')].filter((t) => t.getAttribute('text-anchor') === 'end')
        .map((t) => t.textContent);
      const out = [ticks, div.querySelector('polyline.line').getAttribute('points'),
                   div.querySelector('line.axis').getAttribute('y1')];
      div.remove();
      return out;
    })()"""
    ticks, line, baseline = _call(page, "charts.js", expr)
    assert ticks == ["0", "0.2", "0.4", "0.6", "0.8", "1"], ticks
    assert {p.split(",")[1] for p in line.split()} == {f"{float(baseline):.1f}"}, (line, baseline)


def test_a_features_missing_values_read_as_live_share_against_the_references(page) -> None:  # noqa: ANN001
    expr = ("[m.missingText({missing_share: 0.3, reference_missing_share: 0}),"
            " m.missingText({missing_share: 0.0125, reference_missing_share: 0.01}), m.missingText({psi: 0.1}),"
            " m.missingText(undefined)]")
    assert _call(page, "pages/deployments.js", expr) == ["30.0% (ref 0.0%)", "1.3% (ref 1.0%)", "—", "—"]


def test_a_deployments_health_checks_read_as_the_firing_ones_or_ok(page) -> None:  # noqa: ANN001
    expr = """[
      m.healthSummary({window_s: 300, checks: {error_rate: {observed: 0.48, threshold: 0.05, firing: true},
                                               latency_p99: {observed: 0.2, threshold: 1.0, firing: false}}}),
      m.healthSummary({window_s: 300, checks: {error_rate: {observed: 0.01, threshold: 0.05, firing: false},
                                               latency_p99: {observed: 2.5, threshold: 1.0, firing: true}}}),
      m.healthSummary({window_s: 300, checks: {error_rate: {observed: 0.0, threshold: 0.05, firing: false},
                                               latency_p99: {observed: null, threshold: null, firing: false}}}),
      m.healthSummary({window_s: 600, checks: {error_rate: {observed: null, threshold: 0.05, firing: false}}}),
      m.healthSummary({window_s: 300, checks: {error_rate: {observed: null, threshold: null, firing: false}}}),
      m.healthSummary(undefined)]"""
    assert _call(page, "pages/deployments.js", expr) == [
        ["5xx rate 48.0% > 5.0%", "failed"], ["p99 2500 ms > 1000 ms", "failed"], ["ok", "ok"],
        ["too few requests in 600 s", "muted"], ["no checks", "muted"], ["no checks", "muted"]]


def test_an_axis_through_zero_has_a_zero_tick(page) -> None:  # noqa: ANN001
    # Ticks were summed step by step, so the axis of one point at step 0 (-1..1) read "-5.6e-17" for 0.
    assert _call(page, "charts.js", "m.niceTicks(-1, 1, 10)") == [-1, -0.8, -0.6, -0.4, -0.2, 0, 0.2, 0.4, 0.6, 0.8, 1]
    assert _call(page, "charts.js", "m.niceTicks(-0.3, 0.3, 6)") == [-0.3, -0.2, -0.1, 0, 0.1, 0.2, 0.3]


def test_a_long_metric_is_thinned_without_losing_its_spike(page) -> None:  # noqa: ANN001
    # 100,000 points were thinned to 4,000 by an even stride, which dropped a one-step spike or dip.
    expr = """(() => {
      const pts = Array.from({length: 100000}, (_, i) => [i, 1]);
      pts[12345] = [12345, 50]; pts[67891] = [67891, -7];
      const out = m.thin(pts, 4000);
      const xs = out.map((p) => p[0]);
      return [out.length, Math.max(...out.map((p) => p[1])), Math.min(...out.map((p) => p[1])),
              xs[0], xs[xs.length - 1], xs.every((x, i) => !i || x > xs[i - 1]), m.thin(pts.slice(0, 10), 4000).length];
    })()"""
    n, high, low, first, last, ordered, short = _call(page, "metric_charts.js", expr)
    assert n <= 4000 and (high, low) == (50, -7)
    assert (first, last, ordered, short) == (0, 99999, True, 10)


def test_a_charts_tooltip_reads_the_step_and_value_of_the_nearest_point(page) -> None:  # noqa: ANN001
    # The tooltip titled itself with the pointer's x to 4 digits ("12350" over steps 12345 and 12346) and
    # rounded values to 4 digits (0.123456 read 0.1235).
    expr = """(() => {
      const div = document.createElement('div'); div.style.width = '600px'; document.body.append(div);
      m.lineChart(div, {series: [{name: 'loss', color: '#000', points: [[12340, 0.5], [12345, 0.123456], [12350, 0.7]]}],
                        xLabel: 'step'});
      const svgEl = div.querySelector('svg'); const r = svgEl.getBoundingClientRect();
      const xAt = 56 + (5 / 10) * (r.width - 56 - 12);  // the pointer over step 12345, between the ticks
      svgEl.dispatchEvent(new MouseEvent('mousemove', {clientX: r.left + xAt + 3, clientY: r.top + 50, bubbles: true}));
      const text = div.querySelector('.chart-tip').textContent; div.remove(); return text;
    })()"""
    text = _call(page, "charts.js", expr)
    assert "step 12345" in text and "0.123456" in text, text
    assert _call(page, "charts.js", "[m.fmtValue(100000), m.fmtValue(0.1234567), m.fmtValue(2.5e-7)]") == ["100000", "0.123457", "2.5000e-7"]


def test_an_error_rate_reads_as_a_percentage(page) -> None:  # noqa: ANN001
    assert _call(page, "pages/deployments.js", "[0, 1, 1 / 6, 0.0004, null].map(m.fmtShare)") == [
        "0%", "100%", "16.7%", "0.04%", ""]
