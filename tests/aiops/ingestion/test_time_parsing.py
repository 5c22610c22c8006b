"""Times senders write: RFC 3339 with any offset, or epoch numbers of any unit; nonsense is a 400."""

from __future__ import annotations

import pytest

from opsloop.aiops.ingestion.normalise import parse_time
from opsloop.errors import InvalidInputError

T = 1_700_000_000.0  # 2023-11-14T22:13:20Z


@pytest.mark.parametrize("text", ["2023-11-14T22:13:20Z", "2023-11-14T23:13:20+01:00", "2023-11-14T17:43:20-0430",
                                  "2023-11-14 22:13:20z", "2023-11-14T22:13:20.000000000Z", str(int(T * 1000)), T])
def test_the_same_instant_however_written(text: str | float) -> None:
    assert parse_time(text) == pytest.approx(T)


@pytest.mark.parametrize("text", ["2023-11-14T22:13:20+99:99", "2023-11-14T22:13:20+24:00", "2023-11-14T22:13:20-05:60",
                                  "2023-02-30T00:00:00Z", "yesterday", "nan", True, None, [T]])
def test_nonsense_is_refused_naming_the_field(text: object) -> None:
    with pytest.raises(InvalidInputError) as err:
        parse_time(text, "startsAt")
    assert err.value.field == "startsAt"
