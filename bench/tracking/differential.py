"""MLflow's server and opsloop answer the same bad and edge-case requests: where do they differ?

    python bench/tracking/differential.py [--mlflow URL --opsloop URL] [-v]

Without URLs, both servers are started (as ``run.py`` starts them: one worker, an embedded SQLite store
in a temp folder). Each server gets its own experiment, run, deleted run, deleted experiment and logged
model, then ~150 requests: malformed bodies, wrong types, missing fields, unknown ids, huge values, page
tokens, ``max_results`` bounds, filter and ``order_by`` errors, deleted-entity writes, registry, artifact
and trace edge cases. A case differs when the HTTP status or the ``error_code`` differs (messages are
shown with ``-v`` but not compared). ``KEPT`` lists the differences opsloop keeps on purpose, with why;
the exit status is 1 when any other case differs.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from run import Server  # bench/tracking/run.py

P = "/api/2.0/mlflow"

# Differences opsloop keeps on purpose: case name -> why.
KEPT = {
    "json array body": "MLflow answers a 500 HTML page; opsloop a 400 naming the body",
    "rename deleted exp": "MLflow answers 500 INVALID_STATE, which the mlflow client retries; opsloop 400, same code",
    "rename to existing": "MLflow leaks a SQL IntegrityError as BAD_REQUEST; opsloop says RESOURCE_ALREADY_EXISTS",
    "delete deleted exp": "MLflow answers 404 for an experiment that exists; opsloop's delete is idempotent",
    "restore active exp": "MLflow answers 404 for an experiment that exists; opsloop's restore is idempotent",
    "search exps bad view_type": "MLflow ignores an unknown view type; opsloop names it",
    "update run bad status": "MLflow answers 200 and keeps the old status; opsloop refuses the unknown status",
    "create run tags not list": "MLflow drops tags sent as an object; opsloop says they must be a list",
    "log inputs dataset no name": "MLflow stores a dataset without a name; opsloop asks for one",
    "log metric missing timestamp": "opsloop stamps the time of receipt (the mlflow client always sends one)",
    "log metric step float": "opsloop refuses a step it would have to cut to an integer",
    "log metric timestamp huge": "opsloop refuses a timestamp past 64 bits instead of storing it",
    "metric history unknown run": "MLflow answers an empty history; opsloop says the run does not exist",
    "logged model search bad token": "MLflow answers a 500 HTML page; opsloop a 400 naming page_token",
    "get exp 2**70": "MLflow answers 500 (SQLite integer overflow); opsloop 404",
    "set exp tag missing value": "MLflow stores ''; opsloop asks for the value (the mlflow client always sends it)",
    "logged model search no exps": "MLflow requires experiment_ids; opsloop searches none and finds nothing",
    "trace search v2 bad exp": "opsloop serves the v3 trace search the 3.x client uses; MLflow's v2 answers 500",
    "logged model param changed value": "MLflow leaks a SQL IntegrityError as BAD_REQUEST; opsloop says "
                                        "INVALID_PARAMETER_VALUE, as for a run's param",
    "trace tag unknown": "MLflow leaks a SQL IntegrityError as BAD_REQUEST; opsloop answers 404",
    "unknown endpoint": "MLflow answers an HTML page; opsloop a JSON body with ENDPOINT_NOT_FOUND",
    "wrong method": "MLflow answers an HTML page; opsloop a JSON body",
}


class Fixture:
    """Per-server objects the cases refer to: an experiment, a run, a deleted run, a deleted experiment."""

    def __init__(self, http: httpx.Client) -> None:
        self.http = http
        tag = str(time.time_ns())
        self.exp_name = f"Diff-{tag}"
        self.exp = self._post("/experiments/create", {"name": self.exp_name})["experiment_id"]
        self.run = self._post("/runs/create", {"experiment_id": self.exp})["run"]["info"]["run_id"]
        self.dead_run = self._post("/runs/create", {"experiment_id": self.exp})["run"]["info"]["run_id"]
        self._post("/runs/delete", {"run_id": self.dead_run})
        self.dead_exp = self._post("/experiments/create", {"name": f"dead-{tag}"})["experiment_id"]
        self.dead_exp_run = self._post("/runs/create", {"experiment_id": self.dead_exp})["run"]["info"]["run_id"]
        self._post("/experiments/delete", {"experiment_id": self.dead_exp})
        self.other_exp = self._post("/experiments/create", {"name": f"other-{tag}"})["experiment_id"]
        self.model = self._post("/logged-models", {"experiment_id": self.exp, "name": "m"})["model"]["info"]["model_id"]

    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        r = self.http.post(P + path, json=body)
        r.raise_for_status()
        return r.json()


# (name, method, path, body or query), built from a fixture: a path not under /api/ is under /api/2.0/mlflow;
# a body given as bytes is sent raw.
Case = tuple[str, str, str, Any]


def cases(f: Fixture) -> list[Case]:
    run, exp = f.run, f.exp
    return [
        ("malformed json", "POST", "/runs/log-parameter", b"{not json"),
        ("json array body", "POST", "/runs/log-parameter", b"[1, 2]"),
        ("empty body", "POST", "/experiments/create", b""),
        ("create exp without name", "POST", "/experiments/create", {}),
        ("create exp name int", "POST", "/experiments/create", {"name": 5}),
        ("create exp empty name", "POST", "/experiments/create", {"name": ""}),
        ("create exp duplicate", "POST", "/experiments/create", {"name": f.exp_name}),
        ("create exp duplicate other case", "POST", "/experiments/create", {"name": f.exp_name.upper()}),
        ("create exp huge name", "POST", "/experiments/create", {"name": "x" * 600}),
        ("get exp unknown", "GET", "/experiments/get", {"experiment_id": "987654321"}),
        ("get exp non-numeric id", "GET", "/experiments/get", {"experiment_id": "abc"}),
        ("get exp missing id", "GET", "/experiments/get", {}),
        ("get-by-name unknown", "GET", "/experiments/get-by-name", {"experiment_name": "nope-nope"}),
        ("get-by-name other case", "GET", "/experiments/get-by-name", {"experiment_name": f.exp_name.lower()}),
        ("rename deleted exp", "POST", "/experiments/update", {"experiment_id": f.dead_exp, "new_name": "zz" + exp}),
        ("rename to existing", "POST", "/experiments/update", {"experiment_id": f.other_exp, "new_name": f.exp_name}),
        ("tag deleted exp", "POST", "/experiments/set-experiment-tag",
         {"experiment_id": f.dead_exp, "key": "a", "value": "b"}),
        ("create run in deleted exp", "POST", "/runs/create", {"experiment_id": f.dead_exp}),
        ("delete deleted exp", "POST", "/experiments/delete", {"experiment_id": f.dead_exp}),
        ("restore active exp", "POST", "/experiments/restore", {"experiment_id": exp}),
        ("log param to run of deleted exp", "POST", "/runs/log-parameter",
         {"run_id": f.dead_exp_run, "key": "a", "value": "1"}),
        ("logged model in deleted exp", "POST", "/logged-models", {"experiment_id": f.dead_exp}),
        ("search exps max_results 0", "POST", "/experiments/search", {"max_results": 0}),
        ("search exps max_results -1", "POST", "/experiments/search", {"max_results": -1}),
        ("search exps max_results huge", "POST", "/experiments/search", {"max_results": 50001}),
        ("search exps bad token", "POST", "/experiments/search", {"max_results": 10, "page_token": "garbage"}),
        ("search exps bad filter", "POST", "/experiments/search", {"max_results": 10, "filter": "name =="}),
        ("search exps bad order_by", "POST", "/experiments/search", {"max_results": 10, "order_by": ["nope DESC"]}),
        ("search exps bad view_type", "POST", "/experiments/search", {"max_results": 10, "view_type": "SOMETIMES"}),
        ("search runs max_results 0", "POST", "/runs/search", {"experiment_ids": [exp], "max_results": 0}),
        ("search runs max_results -5", "POST", "/runs/search", {"experiment_ids": [exp], "max_results": -5}),
        ("search runs max_results huge", "POST", "/runs/search", {"experiment_ids": [exp], "max_results": 50001}),
        ("search runs max_results str", "POST", "/runs/search", {"experiment_ids": [exp], "max_results": "ten"}),
        ("search runs bad token", "POST", "/runs/search", {"experiment_ids": [exp], "page_token": "!!garbage"}),
        ("search runs b64 garbage token", "POST", "/runs/search", {"experiment_ids": [exp], "page_token": "e30="}),
        ("search runs filter grammar", "POST", "/runs/search", {"experiment_ids": [exp], "filter": "metrics.x >"}),
        ("search runs filter unknown entity", "POST", "/runs/search",
         {"experiment_ids": [exp], "filter": "foo.bar = '1'"}),
        ("search runs filter bad comparator", "POST", "/runs/search",
         {"experiment_ids": [exp], "filter": "params.a > '1'"}),
        ("search runs order_by garbage", "POST", "/runs/search", {"experiment_ids": [exp], "order_by": ["x y z"]}),
        ("search runs order_by bad key", "POST", "/runs/search",
         {"experiment_ids": [exp], "order_by": ["attributes.nope"]}),
        ("search runs unknown exp", "POST", "/runs/search", {"experiment_ids": ["987654321"]}),
        ("search runs exp ids not list", "POST", "/runs/search", {"experiment_ids": exp}),
        ("search runs no exp ids", "POST", "/runs/search", {}),
        ("get run unknown", "GET", "/runs/get", {"run_id": "0" * 32}),
        ("get run missing id", "GET", "/runs/get", {}),
        ("restore active run", "POST", "/runs/restore", {"run_id": run}),
        ("delete unknown run", "POST", "/runs/delete", {"run_id": "f" * 32}),
        ("update run bad status", "POST", "/runs/update", {"run_id": run, "status": "SLEEPING"}),
        ("update run end_time str", "POST", "/runs/update", {"run_id": run, "end_time": "soon"}),
        ("log param missing key", "POST", "/runs/log-parameter", {"run_id": run, "value": "1"}),
        ("log param value int", "POST", "/runs/log-parameter", {"run_id": run, "key": "k", "value": 1}),
        ("log param illegal key", "POST", "/runs/log-parameter", {"run_id": run, "key": "a$b", "value": "1"}),
        ("log param key ..", "POST", "/runs/log-parameter", {"run_id": run, "key": "../x", "value": "1"}),
        ("log param huge value", "POST", "/runs/log-parameter", {"run_id": run, "key": "big", "value": "v" * 7000}),
        ("log param changed value", "POST", "/runs/log-parameter", {"run_id": run, "key": "big", "value": "other"}),
        ("log param unknown run", "POST", "/runs/log-parameter", {"run_id": "0" * 32, "key": "k", "value": "1"}),
        ("set tag illegal key", "POST", "/runs/set-tag", {"run_id": run, "key": "a\nb", "value": "1"}),
        ("set tag huge key", "POST", "/runs/set-tag", {"run_id": run, "key": "k" * 300, "value": "1"}),
        ("set tag missing value", "POST", "/runs/set-tag", {"run_id": run, "key": "k"}),
        ("delete unknown tag", "POST", "/runs/delete-tag", {"run_id": run, "key": "never-set"}),
        ("log metric value str", "POST", "/runs/log-metric",
         {"run_id": run, "key": "m", "value": "high", "timestamp": 1}),
        ("log metric missing value", "POST", "/runs/log-metric", {"run_id": run, "key": "m", "timestamp": 1}),
        ("log metric missing timestamp", "POST", "/runs/log-metric", {"run_id": run, "key": "m", "value": 1.0}),
        ("log metric step float", "POST", "/runs/log-metric",
         {"run_id": run, "key": "m", "value": 1.0, "timestamp": 1, "step": 1.5}),
        ("log metric timestamp huge", "POST", "/runs/log-metric",
         {"run_id": run, "key": "m", "value": 1.0, "timestamp": 2**70}),
        ("log metric timestamp negative", "POST", "/runs/log-metric",
         {"run_id": run, "key": "m", "value": 1.0, "timestamp": -1}),
        ("log batch timestamp negative", "POST", "/runs/log-batch",
         {"run_id": run, "metrics": [{"key": "m", "value": 1.0, "timestamp": -1, "step": 0}]}),
        ("log batch too many params", "POST", "/runs/log-batch",
         {"run_id": run, "params": [{"key": f"p{i}", "value": "1"} for i in range(101)]}),
        ("log batch params not list", "POST", "/runs/log-batch", {"run_id": run, "params": {"key": "a"}}),
        ("log batch duplicate params", "POST", "/runs/log-batch",
         {"run_id": run, "params": [{"key": "d", "value": "1"}, {"key": "d", "value": "2"}]}),
        ("metric history missing key", "GET", "/metrics/get-history", {"run_id": run}),
        ("metric history unknown run", "GET", "/metrics/get-history", {"run_id": "0" * 32, "metric_key": "m"}),
        ("metric history bad token", "GET", "/metrics/get-history",
         {"run_id": run, "metric_key": "m", "page_token": "garbage", "max_results": 5}),
        ("metric history max_results 0", "GET", "/metrics/get-history",
         {"run_id": run, "metric_key": "m", "max_results": 0}),
        ("logged model unknown", "GET", f"/logged-models/m-{'0' * 32}", None),
        ("logged model params 6001", "POST", f"/logged-models/{f.model}/params",
         {"model_id": f.model, "params": [{"key": "p", "value": "v" * 6001}]}),
        ("logged model params 8001", "POST", f"/logged-models/{f.model}/params",
         {"model_id": f.model, "params": [{"key": "q", "value": "v" * 8001}]}),
        ("logged model param changed value", "POST", f"/logged-models/{f.model}/params",
         {"model_id": f.model, "params": [{"key": "p", "value": "changed"}]}),
        ("logged model bad status", "PATCH", f"/logged-models/{f.model}", {"status": "SLEEPING"}),
        ("logged model search bad filter", "POST", "/logged-models/search",
         {"experiment_ids": [exp], "filter": "name =="}),
        ("logged model search bad token", "POST", "/logged-models/search",
         {"experiment_ids": [exp], "page_token": "garbage"}),
        ("get exp 2**70", "GET", "/experiments/get", {"experiment_id": str(2**70)}),
        ("create run exp non-numeric", "POST", "/runs/create", {"experiment_id": "abc"}),
        ("create run exp unknown", "POST", "/runs/create", {"experiment_id": "987654321"}),
        ("get run illegal id", "GET", "/runs/get", {"run_id": "../etc"}),
        ("restore deleted run", "POST", "/runs/restore", {"run_id": f.dead_run}),
        ("restore unknown run", "POST", "/runs/restore", {"run_id": "e" * 32}),
        ("delete deleted run", "POST", "/runs/delete", {"run_id": f.dead_run}),
        ("delete exp tag unknown", "POST", "/experiments/delete-experiment-tag", {"experiment_id": exp, "key": "nope"}),
        ("set exp tag missing value", "POST", "/experiments/set-experiment-tag", {"experiment_id": exp, "key": "k"}),
        ("set exp tag illegal key", "POST", "/experiments/set-experiment-tag",
         {"experiment_id": exp, "key": "a$b", "value": "v"}),
        ("rename to empty", "POST", "/experiments/update", {"experiment_id": f.other_exp, "new_name": ""}),
        ("search runs max_results 50000", "POST", "/runs/search", {"experiment_ids": [exp], "max_results": 50000}),
        ("search runs filter on deleted exp", "POST", "/runs/search", {"experiment_ids": [f.dead_exp]}),
        ("search runs run_view_type int", "POST", "/runs/search", {"experiment_ids": [exp], "run_view_type": 3}),
        ("search runs filter unterminated", "POST", "/runs/search",
         {"experiment_ids": [exp], "filter": "params.a = 'x"}),
        ("search runs filter OR", "POST", "/runs/search", {"experiment_ids": [exp], "filter": "params.a = 'x' OR params.b = 'y'"}),
        ("search runs filter IN", "POST", "/runs/search",
         {"experiment_ids": [exp], "filter": "attributes.run_id IN ('a', 'b')"}),
        ("search runs filter metric str", "POST", "/runs/search", {"experiment_ids": [exp], "filter": "metrics.m > 'x'"}),
        ("metric history max_results -1", "GET", "/metrics/get-history",
         {"run_id": run, "metric_key": "m", "max_results": -1}),
        ("log batch metric NaN str", "POST", "/runs/log-batch",
         {"run_id": run, "metrics": [{"key": "n", "value": "NaN", "timestamp": 1, "step": 0}]}),
        ("log batch tag no value", "POST", "/runs/log-batch", {"run_id": run, "tags": [{"key": "tv"}]}),
        ("log batch param no value", "POST", "/runs/log-batch", {"run_id": run, "params": [{"key": "pv"}]}),
        ("log batch 1001 metrics", "POST", "/runs/log-batch",
         {"run_id": run, "metrics": [{"key": "z", "value": 1, "timestamp": 1, "step": i} for i in range(1001)]}),
        ("log batch key too long", "POST", "/runs/log-batch", {"run_id": run, "params": [{"key": "k" * 251, "value": "1"}]}),
        ("update run name", "POST", "/runs/update", {"run_id": run, "run_name": "n" * 300}),
        ("logged model finalize unknown", "PATCH", f"/logged-models/m-{'1' * 32}",
         {"model_id": f"m-{'1' * 32}", "status": "LOGGED_MODEL_READY"}),
        ("logged model delete tag unknown", "DELETE", f"/logged-models/{f.model}/tags/nope", None),
        ("logged model create no exp", "POST", "/logged-models", {"name": "x"}),
        ("logged model search no exps", "POST", "/logged-models/search", {}),
        ("list artifacts unknown run", "GET", "/artifacts/list", {"run_id": "0" * 32}),
        ("list artifacts traversal", "GET", "/artifacts/list", {"run_id": run, "path": "../.."}),
        ("list artifacts missing run", "GET", "/artifacts/list", {}),
        ("create registered model empty name", "POST", "/registered-models/create", {"name": ""}),
        ("get registered model unknown", "GET", "/registered-models/get", {"name": "nope-model"}),
        ("create model version unknown model", "POST", "/model-versions/create",
         {"name": "nope-model", "source": "runs:/x/m"}),
        ("get model version unknown", "GET", "/model-versions/get", {"name": "nope-model", "version": "1"}),
        ("get model version bad version", "GET", "/model-versions/get", {"name": "nope-model", "version": "abc"}),
        ("search registered models bad filter", "GET", "/registered-models/search", {"filter": "name =="}),
        ("search registered models bad order", "GET", "/registered-models/search", {"order_by": "nope"}),
        ("search model versions bad token", "GET", "/model-versions/search", {"page_token": "garbage"}),
        ("set alias unknown model", "POST", "/registered-models/alias",
         {"name": "nope-model", "alias": "champion", "version": "1"}),
        ("get alias unknown", "GET", "/registered-models/alias", {"name": "nope-model", "alias": "x"}),
        ("rename registered model unknown", "POST", "/registered-models/rename",
         {"name": "nope-model", "new_name": "n2"}),
        ("trace get unknown", "GET", "/api/3.0/mlflow/traces/tr-unknown", None),
        ("trace search bad filter", "POST", "/api/3.0/mlflow/traces/search",
         {"locations": [{"type": "MLFLOW_EXPERIMENT", "mlflow_experiment": {"experiment_id": exp}}],
          "filter": "tags.a ="}),
        ("trace search max_results 0", "POST", "/api/3.0/mlflow/traces/search",
         {"locations": [{"type": "MLFLOW_EXPERIMENT", "mlflow_experiment": {"experiment_id": exp}}],
          "max_results": 0}),
        ("trace search bad token", "POST", "/api/3.0/mlflow/traces/search",
         {"locations": [{"type": "MLFLOW_EXPERIMENT", "mlflow_experiment": {"experiment_id": exp}}],
          "page_token": "garbage"}),
        ("trace search v2 bad exp", "GET", "/traces", {"experiment_ids": "abc"}),
        ("trace delete no criteria", "POST", "/traces/delete-traces", {"experiment_id": exp}),
        ("trace delete both criteria", "POST", "/traces/delete-traces",
         {"experiment_id": exp, "max_timestamp_millis": 1, "request_ids": ["tr-x"]}),
        ("trace tag unknown", "PATCH", "/traces/tr-unknown/tags", {"key": "a", "value": "b"}),
        ("trace batch get unknown", "POST", "/api/3.0/mlflow/traces/batchGetInfos", {"trace_ids": ["tr-unknown"]}),
        ("assessment on unknown trace", "POST", "/api/3.0/mlflow/traces/tr-unknown/assessments",
         {"assessment": {"assessment_name": "x", "trace_id": "tr-unknown", "feedback": {"value": 1},
                         "source": {"source_type": "HUMAN", "source_id": "me"}}}),
        ("set tag huge value", "POST", "/runs/set-tag", {"run_id": run, "key": "big", "value": "v" * 9000}),
        ("set exp tag huge value", "POST", "/experiments/set-experiment-tag",
         {"experiment_id": exp, "key": "big", "value": "v" * 25000}),
        ("create exp unicode name", "POST", "/experiments/create", {"name": f"ünï/cödé {f.exp_name}"}),
        ("create run start_time str", "POST", "/runs/create", {"experiment_id": exp, "start_time": "now"}),
        ("create run name conflicts tag", "POST", "/runs/create",
         {"experiment_id": exp, "run_name": "a", "tags": [{"key": "mlflow.runName", "value": "b"}]}),
        ("create run tags not list", "POST", "/runs/create", {"experiment_id": exp, "tags": {"a": "b"}}),
        ("log inputs dataset no name", "POST", "/runs/log-inputs",
         {"run_id": run, "datasets": [{"dataset": {"digest": "d", "source_type": "local", "source": "s"}}]}),
        ("log inputs dataset digest long", "POST", "/runs/log-inputs",
         {"run_id": run, "datasets": [{"dataset": {"name": "n", "digest": "d" * 40, "source_type": "local",
                                                   "source": "s"}}]}),
        ("get run id too long", "GET", "/runs/get", {"run_id": "a" * 40}),
        ("search runs filter LIKE no quote", "POST", "/runs/search",
         {"experiment_ids": [exp], "filter": "attributes.run_name LIKE abc"}),
        ("search runs filter tags IS NULL", "POST", "/runs/search",
         {"experiment_ids": [exp], "filter": "tags.x IS NULL"}),
        ("search runs filter dataset", "POST", "/runs/search",
         {"experiment_ids": [exp], "filter": "datasets.name = 'x'"}),
        ("search runs order_by metric", "POST", "/runs/search",
         {"experiment_ids": [exp], "order_by": ["metrics.`m x` DESC"]}),
        ("search exps filter tags", "POST", "/experiments/search",
         {"max_results": 10, "filter": "tags.`a b` = 'c'"}),
        ("search exps filter unknown attr", "POST", "/experiments/search",
         {"max_results": 10, "filter": "attribute.colour = 'red'"}),
        ("log batch metric no key", "POST", "/runs/log-batch",
         {"run_id": run, "metrics": [{"value": 1.0, "timestamp": 1, "step": 0}]}),
        ("log batch tag key illegal", "POST", "/runs/log-batch", {"run_id": run, "tags": [{"key": "a$b", "value": "1"}]}),
        ("log batch same tag twice", "POST", "/runs/log-batch",
         {"run_id": run, "tags": [{"key": "tt", "value": "1"}, {"key": "tt", "value": "2"}]}),
        ("unknown endpoint", "GET", "/runs/nope", {}),
        ("wrong method", "GET", "/runs/create", {}),
    ]


def send(http: httpx.Client, case: Case) -> tuple[int, str | None, str]:
    _, method, path, body = case
    path = path if path.startswith("/api/") else P + path
    if isinstance(body, bytes):
        r = http.request(method, path, content=body, headers={"Content-Type": "application/json"})
    elif method == "GET":
        r = http.get(path, params=body)
    else:
        r = http.request(method, path, json=body)
    try:
        data = r.json()
    except ValueError:
        data = None
    if not isinstance(data, dict):
        return r.status_code, None, r.text[:80]
    return r.status_code, data.get("error_code"), str(data.get("message", ""))


def answers(url: str) -> list[tuple[str, tuple[int, str | None, str]]]:
    with httpx.Client(base_url=url, timeout=60) as http:
        return [(c[0], send(http, c)) for c in cases(Fixture(http))]


def report(mlflow: list, opsloop: list, verbose: bool) -> int:
    """Print the differing cases (every case with ``verbose``); the number of differences not in ``KEPT``."""
    differ = new = 0
    for (name, a), (_, b) in zip(mlflow, opsloop, strict=True):
        same = a[:2] == b[:2]
        differ += not same
        new += not same and name not in KEPT
        if verbose or not same:
            mark = "  " if same else ("~ " if name in KEPT else "≠ ")
            print(f"{mark}{name}" + (f"  (kept: {KEPT[name]})" if not same and name in KEPT else ""))
            print(f"    mlflow  {a[0]} {a[1]}  {a[2][:140]!r}\n    opsloop {b[0]} {b[1]}  {b[2][:140]!r}")
    print(f"{len(mlflow)} cases, {differ} differ, {new} of them not kept on purpose")
    return new


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mlflow", help="a running MLflow server's URL (default: start one)")
    ap.add_argument("--opsloop", help="a running opsloop server's URL (default: start one)")
    ap.add_argument("-v", "--verbose", action="store_true", help="print every case, not only the differing ones")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        servers = [Server(kind, Path(tmp) / kind) for kind, url in (("mlflow", args.mlflow),
                                                                    ("opsloop", args.opsloop)) if not url]
        try:
            for server in servers:
                server.start()
            started = {s.kind: s.url for s in servers}
            found = [answers(args.mlflow or started["mlflow"]), answers(args.opsloop or started["opsloop"])]
        finally:
            for server in servers:
                server.stop()
    return 1 if report(*found, args.verbose) else 0


if __name__ == "__main__":
    sys.exit(main())
