"""A Loki protobuf push whose line is not UTF-8 (a Latin-1 application log that Promtail or Alloy tails as
bytes) is kept with U+FFFD for the bad bytes, as Loki keeps it, and mined; it was refused ('line is not
UTF-8'), and the line lost."""

from __future__ import annotations

import time
from pathlib import Path

import cramjam
from tests.aiops.ingestion._helpers import API, aiops_client, signals
from tests.aiops.ingestion.test_ingest_loki_remote_write_events import PB, _ld, _v


def _push(labels: str, lines: list[bytes]) -> bytes:
    t = int(time.time())
    body = _ld(1, labels.encode())
    for i, line in enumerate(lines):
        body += _ld(2, _ld(1, _v(1 << 3) + _v(t) + _v(2 << 3) + _v(i)) + _ld(2, line))
    return bytes(cramjam.snappy.compress_raw(_ld(1, body)))


def test_a_latin1_line_is_kept_and_mined(tmp_path: Path) -> None:
    lines = ["commande 17 refusée par la banque".encode("latin-1"), "commande 18 acceptée".encode()]
    with aiops_client(tmp_path) as client:
        r = client.post("/loki/api/v1/push", content=_push('{service_name="caisse"}', lines), headers=PB)
        assert r.status_code == 204, r.text
        assert sorted(s["text"] for s in signals(client, kind="log")) == [
            "commande 17 refus\ufffde par la banque", "commande 18 acceptée"]
    with aiops_client(tmp_path) as client:
        body = client.get(API + "/logs/templates", params={"service": "caisse"}).json()
        assert body["total"] == 2


def test_a_json_push_with_a_latin1_line_keeps_every_line(tmp_path: Path) -> None:
    ns = str(time.time_ns())
    body = ('{"streams": [{"stream": {"service_name": "caisse"}, "values": [["' + ns + '", "ticket 4 annul\xe9"], ["'
            + ns + '", "ticket 5 ok"]]}]}').encode("latin-1")
    with aiops_client(tmp_path) as client:
        r = client.post("/loki/api/v1/push", content=body, headers={"content-type": "application/json"})
        assert r.status_code == 204, r.text
        assert sorted(s["text"] for s in signals(client, kind="log")) == ["ticket 4 annul\ufffd", "ticket 5 ok"]
        bad = client.post("/loki/api/v1/push", content=b'{"streams": [', headers={"content-type": "application/json"})
        assert bad.status_code == 400 and bad.json()["field"] == "body"  # still malformed JSON
