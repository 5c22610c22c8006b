"""What a ``retrain`` runbook needs from the model registry: the ``ModelGate`` protocol.

AIOps does not import the MLOps packages; the server composes a gate over its registry and the
validation gate of ``opsloop models validate`` (``opsloop.server.aiops.runbooks.RegistryGate``).
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

__all__ = ["ModelGate"]


@runtime_checkable
class ModelGate(Protocol):
    def latest_version(self, model: str) -> int | None:
        """The highest version number of registered model ``model``; ``None`` when it has none (or does not exist)."""
        ...

    def new_versions(self, model: str, after: int | None) -> list[tuple[int, dict[str, str]]]:
        """The versions of ``model`` numbered above ``after`` (all when ``None``), oldest first, each with
        the tags of the run that produced it overlaid by the version's own tags."""
        ...

    def validate_and_promote(self, model: str, version: str, *, alias: str, data: str,
                             policy: dict[str, Any] | str | None, actor: str, reason: str) -> dict[str, Any]:
        """Validate ``version`` against the version ``@alias`` points to, store the report, and move the
        alias through the audited promotion path only when the gate passed.

        Returns a JSON-able summary with at least ``passed`` and ``promoted`` (bools), ``champion_version``,
        ``validation_id`` and ``rules`` (each ``{"rule", "status", "candidate", "champion", "bound"}``).

        Raises:
            OpsloopError: the candidate could not be validated (missing data, bad policy, unknown model…).
        """
        ...
