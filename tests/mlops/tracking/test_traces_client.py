"""MLflow 3 tracing with the unmodified ``mlflow`` client against a real opsloop server process."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import mlflow
import pandas as pd
import pytest
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException


@pytest.fixture
def client(module_server, monkeypatch, request) -> MlflowClient:  # noqa: ANN001
    monkeypatch.setenv("MLFLOW_TRACKING_URI", module_server.url)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    mlflow.set_tracking_uri(module_server.url)
    mlflow.set_experiment(request.node.name)
    return MlflowClient(module_server.url)


def _experiment_id() -> str:
    return mlflow.tracking.fluent._get_experiment_id()


@mlflow.trace(span_type="CHAIN")
def answer(question: str, fail: bool = False) -> str:
    with mlflow.start_span("retrieve", span_type="RETRIEVER") as span:
        span.set_inputs({"query": question})
        span.set_attribute("top_k", 3)
        span.set_outputs(["doc-1", "doc-2"])
    with mlflow.start_span("generate") as span:
        span.set_inputs({"prompt": question.upper()})
        if fail:
            raise RuntimeError("model is down")
        span.set_outputs("forty-two")
    return f"answer to {question}"


def _traced(n: int, **tags: str) -> list[str]:
    """Run ``answer`` n times, each trace tagged with ``i`` and ``tags``; their ids, oldest first.

    Each trace starts in a later millisecond than the one before, so "oldest first" is well defined.
    """
    ids = []
    for i in range(n):
        time.sleep(0.002)
        with mlflow.start_span("root") as root:
            mlflow.update_current_trace(tags={"i": str(i), **tags})
            root.set_inputs({"i": i})
            answer(f"q{i}")
            root.set_outputs(i)
        ids.append(root.trace_id)
    mlflow.flush_trace_async_logging()
    return ids


def test_traced_function_records_its_spans(client: MlflowClient, module_server) -> None:  # noqa: ANN001
    assert answer("life") == "answer to life"
    mlflow.flush_trace_async_logging()
    trace_id = mlflow.get_last_active_trace_id()

    trace = client.get_trace(trace_id)
    assert trace.info.trace_id == trace_id and trace.info.experiment_id == _experiment_id()
    assert trace.info.state == "OK" and trace.info.execution_duration >= 0
    assert trace.info.request_time > 1_700_000_000_000
    assert json.loads(trace.info.request_preview) == {"question": "life", "fail": False}
    assert trace.info.tags["mlflow.traceName"] == "answer"
    spans = {s.name: s for s in trace.data.spans}
    assert set(spans) == {"answer", "retrieve", "generate"}
    root = spans["answer"]
    assert root.parent_id is None and root.span_type == "CHAIN"
    assert root.inputs == {"question": "life", "fail": False} and root.outputs == "answer to life"
    assert spans["retrieve"].parent_id == root.span_id and spans["generate"].parent_id == root.span_id
    assert spans["retrieve"].inputs == {"query": "life"} and spans["retrieve"].outputs == ["doc-1", "doc-2"]
    assert spans["retrieve"].attributes["top_k"] == 3 and spans["retrieve"].span_type == "RETRIEVER"
    assert spans["generate"].outputs == "forty-two"

    # The span data is MLflow's traces.json artifact, kept by this server's artifact store.
    location = trace.info.tags["mlflow.artifactLocation"]
    assert location == f"mlflow-artifacts:/{_experiment_id()}/traces/{trace_id}/artifacts"
    files = httpx.get(f"{module_server.url}/api/2.0/mlflow-artifacts/artifacts",
                      params={"path": f"{_experiment_id()}/traces/{trace_id}/artifacts"}).json()["files"]
    assert [f["path"] for f in files] == ["traces.json"]


def test_failing_function_is_an_error_trace(client: MlflowClient) -> None:
    with pytest.raises(RuntimeError):
        answer("crash", fail=True)
    mlflow.flush_trace_async_logging()
    trace = client.get_trace(mlflow.get_last_active_trace_id())
    assert trace.info.state == "ERROR"
    generate = next(s for s in trace.data.spans if s.name == "generate")
    assert generate.status.status_code == "ERROR"
    assert any(e.name == "exception" for e in generate.events)
    found = mlflow.search_traces(filter_string="trace.status = 'ERROR'", return_type="list")
    assert [t.info.trace_id for t in found] == [trace.info.trace_id]
    assert mlflow.search_traces(filter_string="attributes.status = 'OK'", return_type="list") == []


def test_search_traces_dataframe_filters_and_orders(client: MlflowClient) -> None:
    ids = _traced(4, team="ml")
    df = mlflow.search_traces()
    assert isinstance(df, pd.DataFrame) and len(df) == 4
    assert list(df["trace_id"]) == ids[::-1]  # newest first
    assert {"trace_id", "state", "request_time", "spans", "tags"} <= set(df.columns)
    assert all(len(spans) == 4 for spans in df["spans"])

    one = mlflow.search_traces(filter_string="tags.i = '2' AND tags.team = 'ml'")
    assert list(one["trace_id"]) == [ids[2]]
    assert len(mlflow.search_traces(filter_string="tags.team = 'ops'")) == 0
    assert len(mlflow.search_traces(filter_string="tags.team LIKE 'm%' AND tags.i != '0'")) == 3
    assert len(mlflow.search_traces(filter_string="tags.`mlflow.traceName` = 'root'")) == 4
    assert len(mlflow.search_traces(filter_string="trace.name = 'root'")) == 4

    infos = [client.get_trace(i).info for i in ids]
    cut = infos[1].request_time
    newer = mlflow.search_traces(filter_string=f"attributes.timestamp_ms > {cut}", return_type="list")
    assert {t.info.trace_id for t in newer} == {i.trace_id for i in infos if i.request_time > cut}
    oldest_first = mlflow.search_traces(order_by=["timestamp_ms ASC"], return_type="list")
    assert [t.info.trace_id for t in oldest_first] == ids
    by_tag = mlflow.search_traces(order_by=["tags.i DESC"], max_results=2, return_type="list")
    assert [t.info.trace_id for t in by_tag] == [ids[3], ids[2]]


def test_client_search_traces_pages_through_everything(client: MlflowClient) -> None:
    ids = _traced(5)
    seen, token, pages = [], None, 0
    while True:
        page = client.search_traces(locations=[_experiment_id()], max_results=2, page_token=token,
                                    order_by=["timestamp_ms ASC"])
        seen += [t.info.trace_id for t in page]
        pages += 1
        token = page.token
        if not token:
            break
    assert seen == ids and pages == 3
    page = client.search_traces(locations=[_experiment_id()], max_results=5, include_spans=False)
    assert len(page) == 5 and all(t.data.spans == [] for t in page)


def test_traces_in_a_run_are_found_by_run_id(client: MlflowClient) -> None:
    with mlflow.start_run() as run:
        answer("in a run")
    _traced(1)
    found = mlflow.search_traces(run_id=run.info.run_id, return_type="list")
    assert len(found) == 1 and found[0].info.trace_metadata["mlflow.sourceRun"] == run.info.run_id


def test_trace_tags_can_be_set_and_deleted(client: MlflowClient) -> None:
    (trace_id,) = _traced(1)
    client.set_trace_tag(trace_id, "reviewed", "yes")
    mlflow.set_trace_tag(trace_id, "score", "0.9")
    tags = client.get_trace(trace_id).info.tags
    assert tags["reviewed"] == "yes" and tags["score"] == "0.9"
    assert len(mlflow.search_traces(filter_string="tags.reviewed = 'yes'")) == 1

    client.delete_trace_tag(trace_id, "reviewed")
    assert "reviewed" not in client.get_trace(trace_id).info.tags
    with pytest.raises(MlflowException) as err:
        client.delete_trace_tag(trace_id, "reviewed")
    assert err.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    with pytest.raises(MlflowException) as err:
        client.set_trace_tag("tr-0000000000000000000000000000dead", "k", "v")
    assert err.value.error_code == "RESOURCE_DOES_NOT_EXIST"


def test_delete_traces_by_id_and_by_age(client: MlflowClient) -> None:
    ids = _traced(5)
    exp = _experiment_id()
    assert client.delete_traces(exp, trace_ids=[ids[0], "tr-unknown"]) == 1
    with pytest.raises(MlflowException) as err:
        client.get_trace(ids[0])
    assert err.value.error_code == "RESOURCE_DOES_NOT_EXIST"

    newest = client.get_trace(ids[4]).info.request_time
    assert client.delete_traces(exp, max_timestamp_millis=newest, max_traces=2) == 2
    remaining = [t.info.trace_id for t in client.search_traces(locations=[exp])]
    assert remaining == [ids[4], ids[3]]
    assert client.delete_traces(exp, max_timestamp_millis=newest) == 2
    assert len(client.search_traces(locations=[exp])) == 0


def test_unknown_trace_is_not_found(client: MlflowClient) -> None:
    with pytest.raises(MlflowException) as err:
        client.get_trace("tr-00000000000000000000000000000000")
    assert err.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    assert mlflow.get_trace("tr-00000000000000000000000000000000", silent=True) is None


def test_bad_search_input_is_rejected(client: MlflowClient) -> None:
    with pytest.raises(MlflowException) as err:
        mlflow.search_traces(filter_string="span.name = 'x'")
    assert err.value.error_code == "INVALID_PARAMETER_VALUE"
    with pytest.raises(MlflowException) as err:
        mlflow.search_traces(filter_string="tags.a = 'x' OR tags.b = 'y'")
    assert err.value.error_code == "INVALID_PARAMETER_VALUE"
    with pytest.raises(MlflowException) as err:
        mlflow.search_traces(order_by=["colour DESC"])
    assert err.value.error_code == "INVALID_PARAMETER_VALUE"


def test_concurrent_traces_are_all_recorded(client: MlflowClient) -> None:
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(answer, [f"q{i}" for i in range(12)]))
    mlflow.flush_trace_async_logging()
    assert len(answers) == 12
    traces = mlflow.search_traces(return_type="list")
    assert sorted(t.info.request_preview for t in traces) == sorted(
        json.dumps({"question": f"q{i}", "fail": False}) for i in range(12))
    assert all(len(t.data.spans) == 3 for t in traces)


def test_search_spans_several_experiments(client: MlflowClient) -> None:
    first = _experiment_id()
    _traced(2)
    second = mlflow.set_experiment("test_search_spans_several_experiments-2").experiment_id
    _traced(1)
    assert len(mlflow.search_traces(locations=[first, second])) == 3
    assert len(mlflow.search_traces(locations=[second])) == 1


def test_feedback_and_expectations_are_logged_on_traces(client: MlflowClient) -> None:
    # mlflow.genai's human feedback and ground truth: the assessment endpoints answered 404.
    from mlflow.entities import AssessmentSource

    trace_id = _traced(1)[0]
    human = AssessmentSource(source_type="HUMAN", source_id="ada")
    good = mlflow.log_feedback(trace_id=trace_id, name="correct", value=True, rationale="cites doc-1", source=human,
                               metadata={"round": "1"})
    truth = mlflow.log_expectation(trace_id=trace_id, name="expected", value={"answer": "q0", "docs": [1, 2]})
    assert good.assessment_id and good.create_time_ms and good.source.source_id == "ada"
    got = mlflow.get_assessment(trace_id, good.assessment_id)
    assert (got.name, got.value, got.rationale, got.metadata, got.valid) == \
        ("correct", True, "cites doc-1", {"round": "1"}, True)
    assert mlflow.get_assessment(trace_id, truth.assessment_id).value == {"answer": "q0", "docs": [1, 2]}
    mlflow.update_assessment(trace_id, good.assessment_id,
                             mlflow.entities.Feedback(name="correct", value=False, rationale="wrong doc"))
    assert mlflow.get_assessment(trace_id, good.assessment_id).value is False
    fixed = mlflow.override_feedback(trace_id=trace_id, assessment_id=good.assessment_id, value=True,
                                     rationale="checked again")
    assessments = mlflow.get_trace(trace_id).info.assessments
    assert sorted(a.name for a in assessments) == ["correct", "correct", "expected"]
    by_validity = {a.valid: a for a in assessments if a.name == "correct"}
    assert by_validity[True].overrides == good.assessment_id and by_validity[False].value is False
    found = mlflow.search_traces(experiment_ids=[_experiment_id()], return_type="list")
    assert len(found[0].info.assessments) == 3
    mlflow.delete_assessment(trace_id, fixed.assessment_id)  # the overridden feedback counts again
    assert mlflow.get_assessment(trace_id, good.assessment_id).valid is True
    with pytest.raises(MlflowException, match="not found|does not exist"):
        mlflow.get_assessment(trace_id, fixed.assessment_id)
    with pytest.raises(MlflowException) as err:
        mlflow.log_feedback(trace_id="tr-unknown", name="x", value=1.0)
    assert err.value.error_code == "RESOURCE_DOES_NOT_EXIST"
