"""Lines in Kubernetes' CRI log format (a node's /var/log/pods files tailed without a cri stage) are read as the
container's own line: the time, stream and full/partial tag were part of every message ("stdout F GET …"),
so the same message written to stderr, or as a partial line, made another template, and the container's own
header (its level) was never read."""

from __future__ import annotations

from opsloop.aiops.logs import HeaderParser, LogIngestor


def test_the_cri_prefix_is_a_header_and_the_container_line_is_parsed() -> None:
    record = HeaderParser().parse("2026-12-07T10:00:01.5Z stderr P 2026-12-07 10:00:01,123 ERROR [main] c.e.Db: "
                                  "pool exhausted\n")
    assert (record.message, record.level, record.component) == ("pool exhausted", "ERROR", "c.e.Db")
    assert record.fields["stream"] == "stderr" and record.fields["tag"] == "P" and record.layout == "cri+time-led"
    plain = HeaderParser().parse("2026-12-07T10:00:00.123456789+01:00 stdout F GET /health 200 in 3 ms")
    assert (plain.message, plain.time) == ("GET /health 200 in 3 ms", "2026-12-07T10:00:00.123456789+01:00")


def test_one_template_whatever_the_stream_and_tag() -> None:
    ingestor = LogIngestor(detect=False)
    lines = ["2026-12-07T10:00:00.1Z stdout F GET /health 200 in 3 ms",
             "2026-12-07T10:00:01.2Z stderr F GET /health 200 in 4 ms",
             "2026-12-07T10:00:02.3Z stdout P GET /health 503 in 9 ms",
             "2026-12-07T10:00:03.4Z stdout F level=error msg=\"db down\""]
    done = [ingestor.ingest(line, service="web", time=1e9) for line in lines]
    assert len({d.match.template_id for d in done[:3]}) == 1
    bare = LogIngestor(detect=False)
    for line in lines[:3]:
        tid = bare.ingest(line.split(" ", 3)[3], service="web", time=1e9).match.template_id
    assert ingestor.miner.template(done[0].match.template_id).text == bare.miner.template(tid).text
    assert done[3].record.level == "ERROR"
