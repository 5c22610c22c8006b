"""The validation report: every metric, fairness gap and rule verdict, as JSON and as text."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["RuleResult", "ValidationReport"]


@dataclass(slots=True)
class RuleResult:
    """One rule's verdict. ``status`` is ``passed``, ``failed``, ``skipped`` (no champion) or ``error``."""

    rule: str
    status: str
    candidate: float | None = None
    champion: float | None = None
    bound: float | None = None
    note: str = ""

    @property
    def ok(self) -> bool:
        return self.status in ("passed", "skipped")


def _clean(v: Any) -> Any:
    if isinstance(v, float) and (math.isnan(v) or math.isinf(v)):
        return None
    if isinstance(v, dict):
        return {k: _clean(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_clean(x) for x in v]
    return v


def _fmt(v: float | None) -> str:
    return "—" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.4f}"


@dataclass(slots=True)
class ValidationReport:
    """Candidate vs champion on the same data; ``passed`` is True when every rule passed or was skipped."""

    model: str
    candidate: str
    champion: str | None
    task: str
    rows: int
    time: float
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)
    fairness: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    rules: list[RuleResult] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(r.ok for r in self.rules)

    def to_dict(self) -> dict[str, Any]:
        doc = asdict(self)
        doc["passed"] = self.passed
        return _clean(doc)

    def to_text(self) -> str:
        """A readable summary (Markdown)."""
        verdict = "PASSED" if self.passed else "FAILED"
        lines = [f"# Validation of {self.model} version {self.candidate}: {verdict}", "",
                 f"Champion: {self.champion or 'none'} · task: {self.task} · rows: {self.rows}", "",
                 "| rule | candidate | champion | bound | verdict |", "|---|---|---|---|---|"]
        lines += [f"| `{r.rule}` | {_fmt(r.candidate)} | {_fmt(r.champion)} | {_fmt(r.bound)} | {r.status}"
                  f"{' — ' + r.note if r.note else ''} |" for r in self.rules]
        names = sorted({k for side in self.metrics.values() for k in side})
        lines += ["", "| metric | candidate | champion |", "|---|---|---|"]
        lines += [f"| {n} | {_fmt(self.metrics.get('candidate', {}).get(n))} | "
                  f"{_fmt(self.metrics.get('champion', {}).get(n))} |" for n in names]
        for side, gaps in self.fairness.items():
            for g in gaps:
                groups = ", ".join(f"{k}: {_fmt(v)}" for k, v in g["groups"].items())
                lines.append(f"\nFairness ({side}): {g['metric']} by {g['column']}: gap {_fmt(g['gap'])} ({groups})")
        return "\n".join(lines) + "\n"

    def write(self, directory: str | Path) -> tuple[Path, Path]:
        """Write ``validation.json`` and ``validation.md`` into ``directory``."""
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        (d / "validation.json").write_text(json.dumps(self.to_dict(), indent=2))
        (d / "validation.md").write_text(self.to_text())
        return d / "validation.json", d / "validation.md"
