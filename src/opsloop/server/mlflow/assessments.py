"""MLflow 3 assessments (``mlflow.log_feedback``, ``log_expectation``, ``override_feedback``…) on traces.

    POST   /api/3.0/mlflow/traces/{trace_id}/assessments                   CreateAssessment {"assessment": …}
    GET    /api/3.0/mlflow/traces/{trace_id}/assessments/{assessment_id}   GetAssessmentRequest
    PATCH  /api/3.0/mlflow/traces/{trace_id}/assessments/{assessment_id}   UpdateAssessment {"assessment", "update_mask"}
    DELETE /api/3.0/mlflow/traces/{trace_id}/assessments/{assessment_id}   DeleteAssessment

A trace's assessments also come with its info (``GET /traces/{trace_id}``, searches).
"""

from __future__ import annotations

import re
from typing import Any

from opsloop.errors import InvalidInputError
from opsloop.runtime import Runtime
from opsloop.server.mlflow._endpoint import api_route
from opsloop.server.mlflow.traces import assessment_json
from opsloop.server.wire import Body, to_dict
from opsloop.storage.sql.trace_assessments import SqlAssessmentStore

__all__ = ["routes"]

_OBJECTS = ("source", "feedback", "expectation")
_STRINGS = ("rationale", "span_id", "run_id")
_UPDATABLE = {"assessment_name", "feedback", "expectation", "rationale", "metadata"}


def _store(rt: Runtime) -> SqlAssessmentStore:
    return SqlAssessmentStore(rt.db)


def _body(assessment: dict[str, Any], keys: set[str] | None = None) -> dict[str, Any]:
    """MLflow's fields of an assessment besides its name and ids, type-checked (``keys``: only those)."""
    out: dict[str, Any] = {}
    for key in (*_OBJECTS, *_STRINGS, "metadata"):
        value = assessment.get(key)
        if value is None or (keys is not None and key not in keys):
            continue
        if key in _STRINGS and not isinstance(value, str):
            raise InvalidInputError(f"'assessment.{key}' must be a string", field=f"assessment.{key}")
        if key not in _STRINGS:
            value = to_dict(value, f"assessment.{key}")
            if key == "metadata" and not all(isinstance(v, str) for v in value.values()):
                raise InvalidInputError("'assessment.metadata' values must be strings", field="assessment.metadata")
        out[key] = value
    return out


def _mask(value: Any) -> set[str]:
    """An ``update_mask`` (proto3 JSON: ``"assessmentName,feedback"``) as snake_case field names."""
    paths = value.split(",") if isinstance(value, str) else value if isinstance(value, list) else None
    if not paths or not all(isinstance(p, str) for p in paths):
        raise InvalidInputError("Missing value for required parameter 'update_mask'.", field="update_mask")
    names = {re.sub(r"(?<!^)(?=[A-Z])", "_", p.strip()).lower() for p in paths}
    if names - _UPDATABLE:
        raise InvalidInputError(f"Cannot update {sorted(names - _UPDATABLE)}; updatable: {sorted(_UPDATABLE)}",
                                field="update_mask")
    return names


def create(rt: Runtime, b: Body) -> dict[str, Any]:
    assessment = to_dict(b.data.get("assessment"), "assessment")
    overrides = assessment.get("overrides")
    if overrides is not None and not isinstance(overrides, str):
        raise InvalidInputError("'assessment.overrides' must be an assessment id", field="assessment.overrides")
    created = _store(rt).create_assessment(b.str("trace_id", required=True), assessment.get("assessment_name"),
                                           _body(assessment), overrides)
    return {"assessment": assessment_json(created)}


def get(rt: Runtime, b: Body) -> dict[str, Any]:
    found = _store(rt).get_assessment(b.str("trace_id", required=True), b.str("assessment_id", required=True))
    return {"assessment": assessment_json(found)}


def update(rt: Runtime, b: Body) -> dict[str, Any]:
    assessment = to_dict(b.data.get("assessment"), "assessment")
    names = _mask(b.data.get("update_mask"))
    updated = _store(rt).update_assessment(
        b.str("trace_id", required=True), b.str("assessment_id", required=True),
        assessment.get("assessment_name") if "assessment_name" in names else None, _body(assessment, names))
    return {"assessment": assessment_json(updated)}


def delete(rt: Runtime, b: Body) -> dict[str, Any]:
    _store(rt).delete_assessment(b.str("trace_id", required=True), b.str("assessment_id", required=True))
    return {}


routes = [
    *api_route("/traces/{trace_id}/assessments", ["POST"], create),
    *api_route("/traces/{trace_id}/assessments/{assessment_id}", ["GET"], get),
    *api_route("/traces/{trace_id}/assessments/{assessment_id}", ["PATCH"], update),
    *api_route("/traces/{trace_id}/assessments/{assessment_id}", ["DELETE"], delete),
]
