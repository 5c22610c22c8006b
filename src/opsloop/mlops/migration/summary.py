"""What an MLflow import did: counts per kind, the old → new id maps, and what failed."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["KINDS", "ImportSummary", "Tally"]

# The kinds of things an import copies, in the order they are reported.
KINDS = ("experiments", "runs", "logged_models", "registered_models", "model_versions", "aliases")


@dataclass
class Tally:
    """How many things of one kind were copied (or, in a dry run, would be), skipped as already there, or
    failed."""

    copied: int = 0
    skipped: int = 0
    failed: int = 0


@dataclass
class ImportSummary:
    """The outcome of one import; ``ids`` maps each kind's source id to its id in opsloop.

    Model versions are keyed ``"NAME/VERSION"`` on both sides, since a destination model may number them
    differently (a version deleted in the source leaves a gap the copy does not).
    """

    source: str
    destination: str
    dry_run: bool = False
    counts: dict[str, Tally] = field(default_factory=lambda: {k: Tally() for k in KINDS})
    ids: dict[str, dict[str, str]] = field(
        default_factory=lambda: {k: {} for k in ("experiments", "runs", "logged_models", "model_versions")})
    failures: list[dict[str, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures

    def copied(self, kind: str, old: str | None = None, new: str | None = None) -> None:
        self.counts[kind].copied += 1
        self._map(kind, old, new)

    def skipped(self, kind: str, old: str | None = None, new: str | None = None) -> None:
        self.counts[kind].skipped += 1
        self._map(kind, old, new)

    def failed(self, kind: str, source_id: str, error: str) -> None:
        self.counts[kind].failed += 1
        self.failures.append({"kind": kind, "source_id": source_id, "error": error})

    def _map(self, kind: str, old: str | None, new: str | None) -> None:
        if old is not None and new is not None and kind in self.ids:
            self.ids[kind][old] = new

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source, "destination": self.destination, "dry_run": self.dry_run, "ok": self.ok,
            "counts": {k: vars(t).copy() for k, t in self.counts.items()},
            "ids": {k: dict(v) for k, v in self.ids.items()},
            "failures": list(self.failures),
        }
