"""Silences, maintenance windows and inhibition rules."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from opsloop.aiops.correlation.silences import silence_matchers
from opsloop.server.aiops._common import actor_of, pipeline
from opsloop.server.aiops.notifications import refuse_unknown_keys
from opsloop.server.params import RowId
from opsloop.server.wire import json_response

__all__ = ["router"]

router = APIRouter(prefix="/api/opsloop/v1", tags=["silences"])


class SilenceBody(BaseModel):
    matchers: list[str] | list[dict[str, Any]] | str = Field(
        ..., description='Alertmanager matchers: \'{service="db", severity=~"warning|error"}\', a list of such, '
                         'or [{"name", "value", "isRegex", "isEqual"}]')
    kind: str = Field("silence", description="silence or maintenance")
    starts_at: float | str | None = Field(None, description="epoch seconds or RFC 3339; default now")
    ends_at: float | str | None = Field(None, description="epoch seconds or RFC 3339")
    duration_s: float | None = Field(None, gt=0, description="instead of ends_at")
    created_by: str = ""
    comment: str = ""


@router.get("/silences", summary="Silences and maintenance windows (not yet ended)")
async def list_silences(request: Request, all: bool = False) -> Response:  # noqa: A002
    return json_response({"silences": await run_in_threadpool(pipeline(request).silences, all)})


@router.post("/silences", summary="Create a silence or maintenance window")
async def create_silence(request: Request, body: SilenceBody) -> Response:
    p = pipeline(request)
    silence_matchers(body.matchers)  # a silence of every alert is refused before anything is stored
    out = await run_in_threadpool(p.add_silence, body.model_dump(), actor_of(request, body.created_by))
    return json_response(out)


@router.delete("/silences/{silence_id}", summary="Expire a silence now")
async def delete_silence(request: Request, silence_id: RowId) -> Response:
    await run_in_threadpool(pipeline(request).expire_silence, silence_id, actor_of(request))
    return json_response({"expired": silence_id})


@router.get("/inhibit-rules", summary="Inhibition rules")
async def get_rules(request: Request) -> Response:
    return json_response({"rules": [r.to_dict() for r in pipeline(request).engine.inhibitor.rules],
                          "topology": pipeline(request).engine.inhibitor.use_topology})


@router.put("/inhibit-rules", summary="Replace the inhibition rules",
            description='[{"source_matchers": [\'severity="critical"\'], "target_matchers": [\'severity="warning"\'], '
                        '"equal": ["service"]}]')
async def put_rules(request: Request, rules: list[dict[str, Any]]) -> Response:
    p = pipeline(request)
    refuse_unknown_keys("inhibit_rules", rules)  # a misspelt ``equal`` would mute every cluster's alerts
    await run_in_threadpool(p.set_config, "inhibit_rules", rules, actor_of(request))
    return json_response({"rules": [r.to_dict() for r in p.engine.inhibitor.rules]})
