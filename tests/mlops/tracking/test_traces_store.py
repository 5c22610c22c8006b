"""The SQL trace store behaves the same on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from opsloop.errors import InvalidInputError, InvalidStateError, NotFoundError
from opsloop.mlops.tracking.entities import TraceInfo
from opsloop.storage.sql import open_database
from opsloop.storage.sql.traces import ARTIFACT_LOCATION_TAG, SqlTraceStore
from opsloop.storage.sql.tracking import SqlTrackingStore


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request, tmp_path) -> SqlTraceStore:  # noqa: ANN001
    url = f"sqlite:///{tmp_path / 't.db'}" if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    db = open_database(url, pool_size=2)
    yield SqlTraceStore(db, SqlTrackingStore(db))
    db.dispose()


def _trace(exp: str, i: int, **kw: object) -> TraceInfo:
    fields = {"trace_id": f"tr-{i:032d}", "experiment_id": exp, "request_time": 1_000 * (i + 1), "state": "OK",
              "execution_duration": 100 * i, "tags": {"i": str(i)}, "trace_metadata": {"parity": str(i % 2)}}
    fields.update(kw)
    return TraceInfo(**fields)  # type: ignore[arg-type]


def test_start_get_and_restart(store: SqlTraceStore) -> None:
    exp = store.tracking.create_experiment("e")
    got = store.start_trace(_trace(exp, 1, client_request_id="c" * 300, tags={"k" * 300: "v"}))
    assert got.tags[ARTIFACT_LOCATION_TAG] == f"mlflow-artifacts:/{exp}/traces/{got.trace_id}/artifacts"
    assert got.client_request_id == "c" * 250 and "k" * 250 in got.tags
    assert store.get_trace_info(got.trace_id) == got
    again = store.start_trace(_trace(exp, 1, state="ERROR", execution_duration=None, tags={"x": "y"}))
    assert again.state == "ERROR" and again.execution_duration is None and again.tags["x"] == "y"
    other = store.tracking.create_experiment("other")
    with pytest.raises(InvalidInputError):
        store.start_trace(_trace(other, 1))
    with pytest.raises(NotFoundError):
        store.get_trace_info("tr-missing")
    with pytest.raises(InvalidInputError):
        store.start_trace(_trace(exp, 2, state="DONE"))
    store.tracking.delete_experiment(other)
    with pytest.raises(InvalidStateError):
        store.start_trace(_trace(other, 3))


def test_search_filters_orders_and_pages(store: SqlTraceStore) -> None:
    exp = store.tracking.create_experiment("e")
    for i in range(6):
        store.start_trace(_trace(exp, i, state="ERROR" if i == 4 else "OK",
                                 execution_duration=None if i == 5 else 100 * i))
    ids = [f"tr-{i:032d}" for i in range(6)]

    def search(flt: str | None = None, order: list[str] | None = None, n: int = 100) -> list[str]:
        return [t.trace_id for t in store.search_traces([exp], flt, n, order)[0]]

    assert search() == ids[::-1]
    assert search("status = 'ERROR'") == [ids[4]]
    assert search("metadata.parity = '1' AND timestamp_ms >= 3000") == [ids[5], ids[3]]
    assert search("tags.i ILIKE '3'") == [ids[3]]
    assert search("state NOT IN ('OK')") == [ids[4]]
    assert search("execution_time_ms > 250") == [ids[4], ids[3]]
    assert search("end_time_ms < 3200") == [ids[1], ids[0]]
    assert search(None, ["execution_time_ms DESC"]) == [ids[4], ids[3], ids[2], ids[1], ids[0], ids[5]]
    assert search(None, ["tags.i ASC"]) == ids
    store.set_trace_tag(ids[2], "my tag", "z")
    assert search(None, ["tags.`my tag` DESC", "timestamp_ms"])[:2] == [ids[2], ids[0]]
    assert search("tags.`my tag` = 'z'") == [ids[2]]
    page, token = store.search_traces([exp], None, 4)
    assert len(page) == 4 and token
    rest, token = store.search_traces([exp], None, 4, None, token)
    assert [t.trace_id for t in rest] == ids[1::-1] and token is None
    assert store.search_traces(["0"], None, 10)[0] == []


def test_tags_and_deletion(store: SqlTraceStore) -> None:
    exp = store.tracking.create_experiment("e")
    for i in range(5):
        store.start_trace(_trace(exp, i))
    ids = [f"tr-{i:032d}" for i in range(5)]
    store.set_trace_tag(ids[0], "note", "hi")
    assert store.get_trace_info(ids[0]).tags["note"] == "hi"
    store.delete_trace_tag(ids[0], "note")
    with pytest.raises(NotFoundError):
        store.delete_trace_tag(ids[0], "note")
    with pytest.raises(NotFoundError):
        store.set_trace_tag("tr-missing", "a", "b")

    assert list(store.delete_traces(exp, trace_ids=[ids[0], "tr-missing"])) == [ids[0]]
    deleted = store.delete_traces(exp, max_timestamp_millis=10_000, max_traces=2)
    assert list(deleted) == ids[1:3] and deleted[ids[1]].endswith(f"/traces/{ids[1]}/artifacts")
    assert [t.trace_id for t in store.search_traces([exp])[0]] == [ids[4], ids[3]]
    assert store.batch_get_trace_infos([ids[3], ids[0]]) == [store.get_trace_info(ids[3])]
    with pytest.raises(InvalidInputError):
        store.delete_traces(exp)
    with pytest.raises(NotFoundError):
        store.delete_traces("9999", max_timestamp_millis=1)


def test_assessments_made_within_one_millisecond_list_oldest_first(store: SqlTraceStore) -> None:
    from opsloop.storage.sql.trace_assessments import SqlAssessmentStore

    assessments = SqlAssessmentStore(store.db)
    trace_id = store.start_trace(_trace(store.tracking.create_experiment("e"), 1)).trace_id
    # made back to back, several share a millisecond (create_time): their order is their ids'
    made = [assessments.create_assessment(trace_id, f"n{i}", {"feedback": {"value": i}}) for i in range(30)]
    assert [a.assessment_id for a in store.get_trace_info(trace_id).assessments] == [a.assessment_id for a in made]
    assert all(len(a.assessment_id) == 34 and a.assessment_id.startswith("a-") for a in made)


def test_assessments_override_update_and_go_with_their_trace(store: SqlTraceStore) -> None:
    from opsloop.storage.sql.trace_assessments import SqlAssessmentStore

    assessments = SqlAssessmentStore(store.db)
    exp = store.tracking.create_experiment("e")
    trace_id = store.start_trace(_trace(exp, 1)).trace_id
    first = assessments.create_assessment(trace_id, "correct", {"feedback": {"value": False},
                                                                 "metadata": {"a": "1"}})
    second = assessments.create_assessment(trace_id, "correct", {"feedback": {"value": True}}, overrides=first.assessment_id)
    assert not assessments.get_assessment(trace_id, first.assessment_id).valid and second.valid
    changed = assessments.update_assessment(trace_id, first.assessment_id, "right?",
                                            {"rationale": "because", "metadata": {"b": "2"}})
    assert changed.name == "right?" and changed.body["metadata"] == {"a": "1", "b": "2"}
    assert changed.body["rationale"] == "because" and changed.create_time == first.create_time
    with pytest.raises(InvalidInputError):  # a feedback stays a feedback
        assessments.update_assessment(trace_id, first.assessment_id, changes={"expectation": {"value": 1}})
    for name, body in (("", {"feedback": {}}), ("x", {}), ("x", {"feedback": {}, "expectation": {}})):
        with pytest.raises(InvalidInputError):
            assessments.create_assessment(trace_id, name, body)
    with pytest.raises(NotFoundError):
        assessments.create_assessment("tr-missing", "x", {"feedback": {}})
    with pytest.raises(NotFoundError):
        assessments.create_assessment(trace_id, "x", {"feedback": {}}, overrides="a-missing")
    assert [a.assessment_id for a in store.get_trace_info(trace_id).assessments] == \
        [first.assessment_id, second.assessment_id]
    assessments.delete_assessment(trace_id, second.assessment_id)
    assert assessments.get_assessment(trace_id, first.assessment_id).valid
    assessments.delete_assessment(trace_id, second.assessment_id)  # already gone: nothing to do, as in MLflow
    store.delete_traces(exp, trace_ids=[trace_id])
    with pytest.raises(NotFoundError):
        assessments.get_assessment(trace_id, first.assessment_id)
