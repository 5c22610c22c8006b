"""A filter word is taken in any case, as it is checked: ``state=Triggered`` lists the triggered
incidents (it was accepted, and matched nothing: an empty list that looked like an answer)."""

from __future__ import annotations

import pytest
from tests.aiops.ingestion._helpers import API, alert, am_payload


@pytest.mark.parametrize(("path", "params", "key"), [
    ("/incidents", {"state": "Triggered"}, "incidents"),
    ("/incidents", {"state": "TRIGGERED, resolved"}, "incidents"),
    ("/signals", {"status": "Firing"}, "signals"),
    ("/signals", {"kind": "Alert"}, "signals"),
    ("/notifications", {"state": "Pending,Delivered,Dead"}, "notifications"),
])
def test_a_filter_word_in_capitals_filters_as_in_lower_case(client, path, params, key) -> None:  # noqa: ANN001
    client.put(API + "/notifications/targets", json=[{"name": "t", "url": "http://127.0.0.1:1/"}])
    client.post(API + "/ingest/alertmanager", json=am_payload([alert("Down", "db")]))
    lower = {k: v.lower().replace(" ", "") for k, v in params.items()}
    expected = [x["id"] for x in client.get(API + path, params=lower).json()[key]]
    assert expected, f"nothing to compare: {path} {lower}"
    r = client.get(API + path, params=params)  # by id: the notification's delivery goes on meanwhile
    assert r.status_code == 200 and [x["id"] for x in r.json()[key]] == expected, r.text
