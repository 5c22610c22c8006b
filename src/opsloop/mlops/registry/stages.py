"""MLflow's legacy version stages (None, Staging, Production, Archived), still served for old clients.

Aliases replace stages; opsloop keeps stages working but audits only alias moves.
"""

from __future__ import annotations

from opsloop.errors import InvalidInputError

__all__ = ["ACTIVE_STAGES", "ALL_STAGES", "ARCHIVED", "canonical_stage"]

NONE, STAGING, PRODUCTION, ARCHIVED = "None", "Staging", "Production", "Archived"
ALL_STAGES = (NONE, STAGING, PRODUCTION, ARCHIVED)
# Moving a version into one of these may archive the versions already there.
ACTIVE_STAGES = (STAGING, PRODUCTION)
_BY_LOWER = {s.lower(): s for s in ALL_STAGES}


def canonical_stage(stage: object) -> str:
    """``"production"`` → ``"Production"``; an unknown stage is an ``InvalidInputError`` on ``stage``."""
    if isinstance(stage, str) and stage.lower() in _BY_LOWER:
        return _BY_LOWER[stage.lower()]
    raise InvalidInputError(f"Invalid Model Version stage: {stage}. Value must be one of "
                            f"{', '.join(ALL_STAGES)}.", field="stage")
