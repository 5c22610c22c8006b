"""What a ``retrain`` runbook needs from the model registry: the ``ModelGate`` protocol.

AIOps does not import the MLOps packages; the server composes a gate over its registry and the
validation gate of ``opsloop models validate`` (``opsloop.server.aiops.runbooks.RegistryGate``).
"""

from __future__ import annotations

import re
from typing import Any, Protocol, runtime_checkable

from opsloop.aiops.runbooks.config import Retrain
from opsloop.errors import InvalidInputError, OpsloopError

__all__ = ["ModelGate", "check_alias", "check_policy", "check_retrain"]

# The aliases a promotion may set: the registry's rule (``mlops.registry.identifiers.check_alias``,
# which aiops does not import). Another alias would be found only by the promotion, after the training.
_ALIAS = re.compile(r"^[\w\-]{1,255}$")
_RESERVED_ALIAS = re.compile(r"^(latest|v\d+)$", re.IGNORECASE)


@runtime_checkable
class ModelGate(Protocol):
    def latest_version(self, model: str) -> int | None:
        """The highest version number of registered model ``model``; ``None`` when it has none (or does not exist)."""
        ...

    def new_versions(self, model: str, after: int | None) -> list[tuple[int, dict[str, str]]]:
        """The versions of ``model`` numbered above ``after`` (all when ``None``), oldest first, each with
        the tags of the run that produced it overlaid by the version's own tags."""
        ...

    def check_policy(self, policy: dict[str, Any] | str | None) -> None:
        """Read ``policy`` as ``validate`` would (the file exists and parses, its rules and metric names
        are valid), without data or models: quick, so it runs before any training.

        Raises:
            OpsloopError: the policy could not be used (``field`` names its key when one is at fault).
        """
        ...

    def validate(self, model: str, version: str, *, alias: str, data: str,
                 policy: dict[str, Any] | str | None) -> dict[str, Any]:
        """Validate ``version`` against the version ``@alias`` points to and store the report.

        Returns a JSON-able summary with at least ``passed`` (bool), ``alias``, ``champion_version``,
        ``validation_id`` and ``rules`` (each ``{"rule", "status", "candidate", "champion", "bound"}``).
        May run long (it loads and scores both models); the runner bounds it by the run's timeout.

        Raises:
            OpsloopError: the candidate could not be validated (missing data, bad policy, unknown model…).
        """
        ...

    def promote(self, model: str, version: str, *, alias: str, actor: str, reason: str) -> None:
        """Move ``@alias`` to ``version`` through the audited promotion path (its validation must have passed)."""
        ...


def check_policy(gate: ModelGate, runbook: str, policy: dict[str, Any] | str | None) -> None:
    """A retrain runbook's policy as ``gate`` reads it, before any training.

    Raises:
        InvalidInputError: the policy cannot be used; ``field`` is ``policy`` or ``policy.KEY``.
    """
    try:
        gate.check_policy(policy)
    except OpsloopError as exc:
        key = "policy" if exc.field in (None, "policy") else f"policy.{exc.field}"
        raise InvalidInputError(f"runbook {runbook!r}: {key}: {exc.message}", field=key) from None


def check_alias(runbook: str, alias: str) -> None:
    """A retrain's alias, one the registry lets a promotion set.

    Raises:
        InvalidInputError: the alias is reserved (``latest``, ``v<N>``) or not a valid name; ``field`` ``alias``.
    """
    if _RESERVED_ALIAS.match(alias):
        raise InvalidInputError(f"runbook {runbook!r}: alias {alias!r} is reserved (the registry resolves it; a "
                                "promotion cannot set it)", field="alias")
    if not _ALIAS.match(alias):
        raise InvalidInputError(f"runbook {runbook!r}: alias {alias[:40]!r} must be at most 255 alphanumerics, "
                                "underscores (_) and dashes (-)", field="alias")


def check_retrain(gate: ModelGate, runbook: str, retrain: Retrain) -> None:
    """What a retrain needs before any training: an alias a promotion can set, a policy ``gate`` can read.

    Raises:
        InvalidInputError: ``field`` is ``alias``, ``policy`` or ``policy.KEY``.
    """
    check_alias(runbook, retrain.alias)
    check_policy(gate, runbook, retrain.policy)
