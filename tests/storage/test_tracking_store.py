"""The tracking store contract, run on every SQL backend (SQLite and a real PostgreSQL)."""

from __future__ import annotations

import math
import threading

import pytest

from opsloop.errors import AlreadyExistsError, InvalidInputError, InvalidStateError, NotFoundError
from opsloop.mlops.tracking.entities import Dataset, DatasetInput, Metric, ViewType
from opsloop.storage.sql import open_database
from opsloop.storage.sql.tracking import SqlTrackingStore


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path) -> SqlTrackingStore:  # noqa: ANN001
    url = f"sqlite:///{tmp_path / 'store.db'}" if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    db = open_database(url)
    yield SqlTrackingStore(db)
    db.dispose()


def _run(store: SqlTrackingStore, exp: str = "0", **kw) -> str:  # noqa: ANN003
    return store.create_run(exp, "tester", **kw).info.run_id


def test_default_experiment_exists_and_cannot_be_deleted(store: SqlTrackingStore) -> None:
    assert store.get_experiment("0").name == "Default"
    with pytest.raises(InvalidInputError):
        store.delete_experiment("0")


def test_experiment_names_are_unique_and_renames_checked(store: SqlTrackingStore) -> None:
    exp = store.create_experiment("alpha", tags={"team": "ml"})
    assert store.get_experiment_by_name("alpha").tags == {"team": "ml"}
    with pytest.raises(AlreadyExistsError):
        store.create_experiment("alpha")
    store.create_experiment("beta")
    with pytest.raises(AlreadyExistsError):
        store.rename_experiment(exp, "beta")
    store.rename_experiment(exp, "gamma")
    assert store.get_experiment(exp).name == "gamma"
    with pytest.raises(NotFoundError):
        store.get_experiment("424242")
    with pytest.raises(InvalidInputError, match="must be a valid integer"):  # MLflow's answer
        store.get_experiment("not-a-number")


def test_experiment_id_filter_takes_ids_and_rejects_null_checks(store: SqlTrackingStore) -> None:
    exp = store.create_experiment("by-id")
    assert [e.name for e in store.search_experiments(ViewType.ALL, f"attributes.experiment_id = '{exp}'")[0]] == [
        "by-id"]
    assert [e.name for e in store.search_experiments(ViewType.ALL, f"experiment_id IN ('{exp}')")[0]] == ["by-id"]
    with pytest.raises(InvalidInputError):
        store.search_experiments(ViewType.ALL, "attributes.experiment_id IS NULL")


def test_deleted_experiment_hides_its_runs_and_restores(store: SqlTrackingStore) -> None:
    exp = store.create_experiment("soft")
    run_id = _run(store, exp)
    store.delete_experiment(exp)
    assert store.search_experiments(ViewType.ACTIVE_ONLY, "name = 'soft'")[0] == []
    assert [e.name for e in store.search_experiments(ViewType.DELETED_ONLY)[0]] == ["soft"]
    assert store.search_runs([exp])[0] == []
    with pytest.raises(InvalidStateError):
        store.create_run(exp)
    store.restore_experiment(exp)
    assert [r.info.run_id for r in store.search_runs([exp])[0]] == [run_id]


def test_run_lifecycle_and_soft_delete(store: SqlTrackingStore) -> None:
    run_id = _run(store, run_name="first")
    run = store.get_run(run_id)
    assert run.info.status == "RUNNING" and run.info.run_name == "first"
    assert run.tags["mlflow.runName"] == "first"
    assert run.info.artifact_uri.endswith(f"/0/{run_id}/artifacts")
    store.update_run_info(run_id, "FINISHED", 123, run_name="renamed")
    run = store.get_run(run_id)
    assert (run.info.status, run.info.end_time, run.info.run_name) == ("FINISHED", 123, "renamed")
    store.delete_run(run_id)
    with pytest.raises(InvalidStateError):
        store.log_param(run_id, "a", "1")
    assert store.search_runs(["0"], run_view_type=ViewType.DELETED_ONLY)[0][0].info.run_id == run_id
    store.restore_run(run_id)
    store.log_param(run_id, "a", "1")
    with pytest.raises(InvalidInputError):
        store.update_run_info(run_id, "BOGUS")


def test_params_are_immutable_but_relogging_same_value_is_fine(store: SqlTrackingStore) -> None:
    run_id = _run(store)
    store.log_param(run_id, "lr", "0.1")
    store.log_param(run_id, "lr", "0.1")
    with pytest.raises(InvalidInputError, match="Changing param values is not allowed"):
        store.log_param(run_id, "lr", "0.2")
    with pytest.raises(InvalidInputError, match="Duplicate parameter keys"):
        store.log_batch(run_id, param_list=[("x", "1"), ("x", "2")])
    assert store.get_run(run_id).params == {"lr": "0.1"}


def test_a_rejected_batch_stores_nothing(store: SqlTrackingStore) -> None:
    run_id = _run(store)
    store.log_param(run_id, "lr", "0.1")
    with pytest.raises(InvalidInputError):
        store.log_batch(run_id, metrics=[Metric("m", 1.0, 1, 0)], params={"lr": "0.9"}, tags={"t": "v"})
    run = store.get_run(run_id)
    assert run.metrics == [] and "t" not in run.tags and store.get_metric_history(run_id, "m")[0] == []


def test_metric_history_keeps_every_point_and_latest_follows_step(store: SqlTrackingStore) -> None:
    run_id = _run(store)
    store.log_batch(run_id, metrics=[Metric("loss", 1.0 / (i + 1), 1000 + i, i) for i in range(50)])
    store.log_metric(run_id, Metric("loss", 9.0, 1, 3))  # an old step logged late: history only
    store.log_metric(run_id, Metric("loss", math.nan, 5000, 60))
    history, _ = store.get_metric_history(run_id, "loss")
    assert len(history) == 52
    latest = {m.key: m for m in store.get_run(run_id).metrics}["loss"]
    assert latest.step == 60 and math.isnan(latest.value)
    page, token = store.get_metric_history(run_id, "loss", max_results=20)
    rest, token2 = store.get_metric_history(run_id, "loss", max_results=100, page_token=token)
    assert len(page) == 20 and len(rest) == 32 and token2 is None


def test_resending_the_same_point_is_idempotent(store: SqlTrackingStore) -> None:
    run_id = _run(store)
    for _ in range(3):
        store.log_metric(run_id, Metric("acc", 0.5, 10, 1))
    assert len(store.get_metric_history(run_id, "acc")[0]) == 1


def test_a_point_relogged_for_a_logged_model_stays_one_point_of_the_run(store: SqlTrackingStore) -> None:
    # mlflow's log_model re-sends the run's points of its step with the new model_id (log-batch).
    run_id = _run(store)
    store.log_batch(run_id, metrics=[Metric("loss", 1.0 / (i + 1), 1000 + i, i) for i in range(5)])
    store.log_metric(run_id, Metric("acc", 0.9, 1000, 0))
    model = store.create_logged_model("0", "model", run_id)
    store.log_batch(run_id, metrics=[Metric("loss", 1.0, 1000, 0, model_id=model.model_id),
                                     Metric("acc", 0.9, 1000, 0, model_id=model.model_id)])
    history, _ = store.get_metric_history(run_id, "loss")
    assert [m.step for m in history] == [0, 1, 2, 3, 4]
    assert [m.value for m in store.get_metric_history(run_id, "acc")[0]] == [0.9]
    page, token = store.get_metric_history(run_id, "loss", max_results=3)
    rest, _ = store.get_metric_history(run_id, "loss", max_results=3, page_token=token)
    assert [m.step for m in page + rest] == [0, 1, 2, 3, 4]
    assert sorted(m.key for m in store.get_logged_model(model.model_id).metrics) == ["acc", "loss"]
    # a point logged only for the model is still part of the run's history
    store.log_metric(run_id, Metric("val", 0.5, 2000, 7, model_id=model.model_id))
    assert [(m.step, m.model_id) for m in store.get_metric_history(run_id, "val")[0]] == [(7, model.model_id)]


def test_infinite_values_round_trip(store: SqlTrackingStore) -> None:
    run_id = _run(store)
    store.log_batch(run_id, metrics=[Metric("a", math.inf, 1, 0), Metric("b", -math.inf, 1, 0)])
    values = {m.key: m.value for m in store.get_run(run_id).metrics}
    assert values == {"a": math.inf, "b": -math.inf}


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"params": {"p": "x" * 6001, "k" * 251: "v"}}, "key"),
        ({"tags": {"t": "x" * 8001, "../t": "v"}}, "key"),
        ({"params": {"k" * 251: "v"}}, "key"),
        ({"params": {"../etc": "v"}}, "key"),
        ({"metrics": [Metric("m", 1.0, 1, 0)] * 1001}, "metrics"),
        ({"params": {f"p{i}": "v" for i in range(101)}}, "params"),
    ],
)
def test_limits_are_enforced_before_writing(store: SqlTrackingStore, kwargs: dict, field: str) -> None:
    run_id = _run(store)
    with pytest.raises(InvalidInputError) as info:
        store.log_batch(run_id, **kwargs)
    assert info.value.field == field
    run = store.get_run(run_id)
    assert run.params == {} and run.metrics == []


def test_long_param_and_tag_values_are_cut_to_mlflows_limits(store: SqlTrackingStore) -> None:
    # MLflow's server cuts them (MLFLOW_TRUNCATE_LONG_VALUES, on by default) instead of refusing the batch.
    run_id = _run(store)
    store.log_batch(run_id, params={"features": "f" * 7000}, tags={"mlflow.note.content": "n" * 9000})
    store.log_param(run_id, "features", "f" * 6500)  # the same value again: cut the same way, not a change
    run = store.get_run(run_id)
    assert run.params["features"] == "f" * 6000 and run.tags["mlflow.note.content"] == "n" * 8000
    # mlflow.start_run(description=…) sends the note with the new run
    described = store.create_run(run.info.experiment_id, tags={"mlflow.note.content": "d" * 9000})
    assert described.tags["mlflow.note.content"] == "d" * 8000


def test_long_run_names_and_user_ids_fit_their_columns(store: SqlTrackingStore) -> None:
    # On PostgreSQL a run name past 250 characters (or a user id past 256) was a DataError, a 500; SQLite kept
    # them whole. The columns now hold their first 250/256 characters on both; the runName tag keeps the name.
    run = store.create_run("0", "u" * 300, run_name="n" * 600)
    assert (run.info.run_name, run.info.user_id) == ("n" * 250, "u" * 256)
    assert run.tags["mlflow.runName"] == "n" * 600
    store.set_tag(run.info.run_id, "mlflow.runName", "m" * 600)
    assert store.get_run(run.info.run_id).info.run_name == "m" * 250
    store.update_run_info(run.info.run_id, run_name="r" * 9000)
    renamed = store.get_run(run.info.run_id)
    assert renamed.info.run_name == "r" * 250 and renamed.tags["mlflow.runName"] == "r" * 8000
    assert [r.info.run_id for r in store.search_runs(["0"], f"attributes.run_name = '{'r' * 250}'")[0]] == \
        [run.info.run_id]
    assert store.create_run("0", run_name="x" * 9000).tags["mlflow.runName"] == "x" * 8000


@pytest.mark.parametrize(("metric", "field"), [
    (Metric("m", 1.0, 1, 0, "m-" + "x" * 100), "model_id"),
    (Metric("m", 1.0, 1, 0, "", "eval", "d" * 37), "dataset_digest"),
    (Metric("m", 1.0, 1, 0, "", "n" * 501, "d"), "dataset_name"),
])
def test_metric_links_past_their_columns_are_named_errors(store: SqlTrackingStore, metric: Metric,
                                                          field: str) -> None:
    # On PostgreSQL they were a DataError (a 500); SQLite stored them.
    with pytest.raises(InvalidInputError) as info:
        store.log_batch(_run(store), metrics=[metric])
    assert info.value.field == field


def test_logged_model_name_and_type_past_their_columns_are_named_errors(store: SqlTrackingStore) -> None:
    for kwargs, field in (({"name": "n" * 501}, "name"), ({"name": "ok", "model_type": "t" * 501}, "model_type")):
        with pytest.raises(InvalidInputError) as info:
            store.create_logged_model("0", **kwargs)
        assert info.value.field == field


def test_model_inputs_and_outputs_past_the_id_column_are_named_errors(store: SqlTrackingStore) -> None:
    run_id = _run(store)
    for log in (lambda: store.log_inputs(run_id, model_ids=["m" * 65]),
                lambda: store.log_outputs(run_id, [("m" * 65, 0)])):
        with pytest.raises(InvalidInputError) as info:  # a DataError (500) on PostgreSQL
            log()
        assert info.value.field == "model_id"


def test_unknown_run_is_not_found(store: SqlTrackingStore) -> None:
    with pytest.raises(NotFoundError):
        store.get_run("0" * 32)
    with pytest.raises(NotFoundError):
        store.log_metric("f" * 32, Metric("m", 1.0, 1, 0))


def _seed(store: SqlTrackingStore, exp: str) -> dict[str, str]:
    ids = {}
    for i, (model, acc) in enumerate([("rf", 0.9), ("rf", 0.7), ("svm", 0.8), ("lr", 0.6), ("lr", None)]):
        run_id = _run(store, exp, run_name=f"run-{i}", start_time=1000 + i)
        metrics = [Metric("acc", acc, 1, 0)] if acc is not None else []
        store.log_batch(run_id, metrics=metrics, params={"model": model, "depth": str(i)},
                        tags={"team": "Blue" if i % 2 else "red"})
        ids[f"run-{i}"] = run_id
    return ids


def _names(runs) -> list[str]:  # noqa: ANN001
    return [r.info.run_name for r in runs]


def test_search_filters_with_mlflow_grammar(store: SqlTrackingStore) -> None:
    exp = store.create_experiment("search")
    ids = _seed(store, exp)

    def find(flt: str) -> set[str]:
        return set(_names(store.search_runs([exp], flt)[0]))

    assert find("metrics.acc > 0.75") == {"run-0", "run-2"}
    assert find("metrics.acc >= 0.7 and params.model = 'rf'") == {"run-0", "run-1"}
    assert find("params.model != 'rf'") == {"run-2", "run-3", "run-4"}
    assert find("tags.team LIKE 'B%'") == {"run-1", "run-3"}
    assert find("tags.team ILIKE 'b%'") == {"run-1", "run-3"}
    assert find("params.model IN ('svm', 'lr')") == {"run-2", "run-3", "run-4"}
    assert find("attributes.run_name = 'run-3'") == {"run-3"}
    assert find(f"attributes.run_id = '{ids['run-1']}'") == {"run-1"}
    assert find("attributes.start_time >= 1003") == {"run-3", "run-4"}
    assert find("attributes.status = 'RUNNING' AND metrics.acc < 0.65") == {"run-3"}
    assert find("params.`model` = 'svm'") == {"run-2"}
    # the entity in backticks too, as MLflow's grammar allows (it was "unexpected text")
    assert find("`params`.`model` = 'svm' AND `attributes`.`run_name` = 'run-2'") == {"run-2"}
    assert _names(store.search_runs([exp], order_by=["`metrics`.`acc` DESC"])[0])[0] == "run-0"
    for bad in ["metrics.acc > 'x'", "params.model > 1", "foo = 'x'", "metrics.acc > 0.5 OR params.a = 'b'",
                "metrics.acc >", "tags.t LIKE"]:
        with pytest.raises(InvalidInputError):
            store.search_runs([exp], bad)


def test_search_orders_missing_values_last_and_pages(store: SqlTrackingStore) -> None:
    exp = store.create_experiment("order")
    _seed(store, exp)
    runs, _ = store.search_runs([exp], order_by=["metrics.acc DESC"])
    assert _names(runs) == ["run-0", "run-2", "run-1", "run-3", "run-4"]
    runs, _ = store.search_runs([exp], order_by=["metrics.acc ASC"])
    assert _names(runs) == ["run-3", "run-1", "run-2", "run-0", "run-4"]
    runs, _ = store.search_runs([exp], order_by=["params.model", "attributes.start_time DESC"])
    assert _names(runs) == ["run-4", "run-3", "run-1", "run-0", "run-2"]
    assert _names(store.search_runs([exp])[0]) == ["run-4", "run-3", "run-2", "run-1", "run-0"]
    seen, token = [], None
    while True:
        page, token = store.search_runs([exp], max_results=2, order_by=["metrics.acc DESC"], page_token=token)
        seen += _names(page)
        if token is None:
            break
    assert seen == ["run-0", "run-2", "run-1", "run-3", "run-4"]
    with pytest.raises(InvalidInputError):
        store.search_runs([exp], max_results=50001)
    with pytest.raises(InvalidInputError):
        store.search_runs([exp], page_token="garbage!")


def test_search_orders_nan_metrics_after_numbers_both_ways(store: SqlTrackingStore) -> None:
    # As MLflow: numbers, then NaN, then runs without the metric, whichever the direction (NaN used to
    # sort as the 0.0 it is stored as).
    exp = store.create_experiment("nan-order")
    for name, acc in (("low", -1.0), ("zero", 0.0), ("nan", math.nan), ("high", 2.0), ("none", None)):
        run_id = _run(store, exp, run_name=name)
        if acc is not None:
            store.log_metric(run_id, Metric("acc", acc, 1, 0))
    assert _names(store.search_runs([exp], order_by=["metrics.acc DESC"])[0]) == ["high", "zero", "low", "nan",
                                                                                   "none"]
    assert _names(store.search_runs([exp], order_by=["metrics.acc ASC"])[0]) == ["low", "zero", "high", "nan",
                                                                                  "none"]


@pytest.mark.parametrize("order", ["metrics.acc SIDEWAYS", "metrics.acc DESC ASC", "params.a b"])
def test_an_order_by_that_is_not_key_and_direction_is_refused(store: SqlTrackingStore, order: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        store.search_runs(["0"], order_by=[order])
    assert caught.value.field == "order_by"
    store.search_runs(["0"], order_by=["metrics.`my metric` DESC", 'params."a b"', "tags.t asc"])


def test_inputs_and_dataset_search(store: SqlTrackingStore) -> None:
    run_id = _run(store)
    ds = Dataset("train", "abc123", "local", '{"uri": "/data/train.csv"}', '{"cols": []}', '{"rows": 3}')
    store.log_inputs(run_id, [DatasetInput(ds, {"mlflow.data.context": "training"})])
    store.log_inputs(run_id, [DatasetInput(ds, {"mlflow.data.context": "training"})])  # idempotent
    # logged again with another context, the run's input stays as first logged, as in MLflow
    store.log_inputs(run_id, [DatasetInput(ds, {"mlflow.data.context": "validation", "extra": "1"})])
    run = store.get_run(run_id)
    assert len(run.dataset_inputs) == 1 and run.dataset_inputs[0].dataset.digest == "abc123"
    assert run.dataset_inputs[0].tags == {"mlflow.data.context": "training"}
    assert store.search_runs(["0"], "datasets.context = 'validation'")[0] == []
    assert [r.info.run_id for r in store.search_runs(["0"], "datasets.name = 'train'")[0]] == [run_id]
    assert [r.info.run_id for r in store.search_runs(["0"], "datasets.context = 'training'")[0]] == [run_id]
    with pytest.raises(InvalidInputError):
        store.log_inputs(run_id, [DatasetInput(Dataset("", "d", "local", "s"))])


def test_logged_models_lifecycle_and_search(store: SqlTrackingStore) -> None:
    run_id = _run(store)
    model = store.create_logged_model("0", "clf", run_id, tags={"k": "v"}, params={"p": "1"}, model_type="sk")
    assert model.status == "LOGGED_MODEL_PENDING" and model.artifact_uri.endswith(f"/models/{model.model_id}/artifacts")
    store.log_metric(run_id, Metric("acc", 0.9, 1, 0, model_id=model.model_id))
    assert store.finalize_logged_model(model.model_id, "LOGGED_MODEL_READY").status == "LOGGED_MODEL_READY"
    got = store.get_logged_model(model.model_id)
    assert got.params == {"p": "1"} and got.tags == {"k": "v"} and got.metrics[0].value == 0.9
    found, _ = store.search_logged_models(["0"], f"source_run_id = '{run_id}' AND name = 'clf'")
    assert [m.model_id for m in found] == [model.model_id]
    assert store.search_logged_models(["0"], "metrics.acc > 0.95")[0] == []
    store.delete_logged_model(model.model_id)
    with pytest.raises(NotFoundError):
        store.get_logged_model(model.model_id)


def test_concurrent_writers_lose_nothing(store: SqlTrackingStore) -> None:
    shared = _run(store)
    own = [_run(store) for _ in range(8)]
    errors: list[BaseException] = []

    def writer(i: int) -> None:
        try:
            for step in range(40):
                store.log_metric(shared, Metric(f"w{i}", float(step), step, step))
                if i < 8:
                    store.log_batch(own[i], metrics=[Metric("x", float(step), step, step)], tags={"i": str(step)})
        except BaseException as exc:  # noqa: BLE001 - collected and re-raised in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(16)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors
    for i in range(16):
        assert len(store.get_metric_history(shared, f"w{i}")[0]) == 40
    for run_id in own:
        assert len(store.get_metric_history(run_id, "x")[0]) == 40
        assert store.get_run(run_id).tags["i"] == "39"


def _all_at_once(calls: list) -> list[str]:  # noqa: ANN001
    """Run the calls on threads released together; each answers what it returned, ``exists`` or ``invalid``."""
    from concurrent.futures import ThreadPoolExecutor

    barrier = threading.Barrier(len(calls))

    def one(call) -> str:  # noqa: ANN001
        barrier.wait()
        try:
            return str(call())
        except AlreadyExistsError:
            return "exists"
        except InvalidInputError:
            return "invalid"

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(one, calls))


def test_concurrent_creates_and_renames_to_one_name_are_already_exists(store: SqlTrackingStore) -> None:
    """Two servers on one PostgreSQL database creating an experiment of the same name: the loser is told it
    exists (MLflow's RESOURCE_ALREADY_EXISTS), not an IntegrityError (a 500)."""
    drafts = [store.create_experiment(f"draft-{i}") for i in range(8)]
    for round_ in range(6):
        created = _all_at_once([lambda n=f"same-{round_}": store.create_experiment(n)] * 8)
        assert created.count("exists") == 7
        moved = _all_at_once([lambda d=d, n=f"renamed-{round_}": store.rename_experiment(d, n) for d in drafts])
        assert moved.count("exists") == 7


def test_concurrent_params_of_one_key_keep_one_value_and_refuse_the_others(store: SqlTrackingStore) -> None:
    """Param values are immutable: of servers logging one key with different values at once, one wins and the
    others are told (MLflow's "Changing param values is not allowed"), none answers success for a value it lost."""
    run_id = _run(store)
    for round_ in range(6):
        key = f"lr-{round_}"
        answers = _all_at_once([lambda v=str(i), k=key: store.log_batch(run_id, params={k: v}) for i in range(8)])
        assert answers.count("invalid") == 7, answers
        kept = store.get_run(run_id).params[key]
        assert answers[int(kept)] != "invalid"


def test_concurrent_logged_model_params_of_one_key_keep_one_value_and_refuse_the_others(
        store: SqlTrackingStore) -> None:
    model_id = store.create_logged_model("0", name="model").model_id
    for round_ in range(6):
        key = f"alpha-{round_}"
        answers = _all_at_once([lambda v=str(i), k=key: store.log_logged_model_params(model_id, {k: v})
                                for i in range(8)])
        assert answers.count("invalid") == 7, answers
        kept = store.get_logged_model(model_id).params[key]
        assert answers[int(kept)] != "invalid"
