"""Which model version a drift reference describes, and where a version's training data is.

A reference set with an alias (``"ref": "champion"``, or by default the alias last served) follows it:
when the alias moves to another version, the reference is rebuilt from that version's training data
(``origin`` in the profile says which version, alias and data it came from, and what it replaced).
A version names its training data with the tag ``TRAINING_DATA_TAG`` on the version or on the run
that logged it: ``runs:/RUN_ID/path``, an ``mlflow-artifacts:`` URI, or a path inside that run's
artifacts (``data/train.parquet``). Without the tag, the run's artifact at the path the current
reference was read from (``runs:/OLD_RUN/data/train.parquet`` → ``data/train.parquet``) is taken.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from opsloop.mlops.monitoring.records import PredictionSample

__all__ = ["TRAINING_DATA_TAG", "behind", "data_origin", "followed", "samples_of", "training_data_of"]

TRAINING_DATA_TAG = "opsloop.training_data"
INLINE = "inline"


def data_origin(path: str | None, alias: str | None, version: str | None, model_uri: str | None,
                model_uuid: str | None = None) -> dict[str, Any]:
    """The ``origin`` of a reference set now from ``path`` (``None``: inline rows), profiled with the
    version ``model_uri`` named (``alias`` when it named one, so the reference can follow it) whose
    MLmodel is ``model_uuid``."""
    run_id = path.split("/")[1] if path and path.startswith("runs:/") and path.count("/") > 1 else None
    return {"data": path or INLINE, "run_id": run_id, "alias": alias, "version": version,
            "model_uri": model_uri, "model_uuid": model_uuid, "set": "api", "time": time.time()}


def followed(origin: dict[str, Any], previous: Mapping[str, Any]) -> dict[str, Any]:
    """``origin`` of a reference rebuilt because its alias moved; drift is then measured on the
    samples scored from now on (``samples_since``) by that version (``model_uuid``; a server may
    answer with the previous one a little longer), not on those the previous version answered."""
    now = time.time()
    return {**origin, "set": "followed", "time": now, "samples_since": now,
            "previous": {k: previous.get(k) for k in ("version", "data", "run_id")}}


def behind(origin: Mapping[str, Any], version: str, why: str) -> dict[str, Any]:
    """``origin`` of a reference kept although ``@alias`` now serves ``version``: ``why`` says what is missing."""
    return {**origin, "behind": {"version": version, "alias": origin.get("alias"), "since": time.time(),
                                 "reason": why}}


def training_data_of(run_id: str | None, tags: Mapping[str, str], previous_data: str | None) -> str | None:
    """Where a version's training data is: its ``TRAINING_DATA_TAG`` (``tags``: the run's tags
    overlaid by the version's), else the artifact of its run ``run_id`` at the path the previous
    reference was read from; ``None`` when neither names one."""
    named = (tags.get(TRAINING_DATA_TAG) or "").strip()
    if named.startswith(("runs:/", "mlflow-artifacts:")):
        return named
    if named and run_id:
        return f"runs:/{run_id}/{named.lstrip('/')}"
    if run_id and previous_data and previous_data.startswith("runs:/") and previous_data.count("/") > 1:
        return f"runs:/{run_id}/{previous_data.split('/', 2)[2]}"
    return None


def samples_of(origin: Mapping[str, Any] | None, samples: list[PredictionSample]) -> list[PredictionSample]:
    """The samples a followed reference is compared with: those its version (``model_uuid``) answered."""
    uuid = (origin or {}).get("model_uuid")
    if not uuid or not (origin or {}).get("samples_since"):
        return samples
    return [s for s in samples if s.version == uuid]
