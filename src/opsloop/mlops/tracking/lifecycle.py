"""Writes need an active run or experiment: the error for one that is deleted."""

from __future__ import annotations

from opsloop.errors import InvalidInputError, InvalidStateError

__all__ = ["NOT_ACTIVE", "NotActiveError", "require_active"]

NOT_ACTIVE = "must be in the 'active' state"  # in MLflow's message for it, which the SDK reads back


class NotActiveError(InvalidStateError, InvalidInputError):
    """A write names a deleted run or experiment.

    An invalid state in opsloop's terms; MLflow's server answers it as an invalid parameter value
    (400 ``INVALID_PARAMETER_VALUE``), and so does opsloop's HTTP layer, as this is an ``InvalidInputError`` too.
    """


def require_active(kind: str, entity_id: object, lifecycle_stage: str, field: str) -> None:
    """Raise ``NotActiveError`` with MLflow's message unless ``lifecycle_stage`` is ``active``."""
    if lifecycle_stage != "active":
        raise NotActiveError(f"The {kind} {entity_id} {NOT_ACTIVE}. Current state is {lifecycle_stage}.", field=field)
