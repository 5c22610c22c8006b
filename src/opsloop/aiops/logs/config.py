"""The miner's one global configuration: the same values serve every log source."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from opsloop.errors import InvalidInputError

__all__ = ["MinerConfig"]


@dataclass(frozen=True, slots=True)
class MinerConfig:
    """How the template miner behaves; defaults are the benchmarked global configuration.

    Attributes:
        similarity_threshold: share of a line's tokens that must agree with a template's
            constant tokens for the line to join it (0..1).
        sibling_merge: templates that differ only at one word position merged into one
            with ``<*>`` there, once there are this many of them.
        max_sibling_tokens: longer templates are not considered for sibling merges.
        max_templates: live templates (not merged into another) across all services; past it, unmatched lines go to a
            per-service overflow template (counted in ``MinerStats.overflow_lines``).
        max_service_share: the share of ``max_templates`` one service may hold; past it, that
            service's unmatched lines go to its overflow template, so a service flooding the
            miner with unique lines (user text, ids the masks miss) leaves the others their room.
        max_services: services tracked; past it, lines are filed under ``overflow_service``.
        max_line_chars: longer lines are truncated (counted in ``MinerStats.truncated_lines``).
        max_tokens: tokens considered per line; the rest is folded into the last one.
        line_cache_size: exact lines remembered for the fast path, shared fairly by the services
            (each gets ``max(64, line_cache_size // services)``; a full share is cleared). The
            masked-message cache has the same bound.
        max_examples: raw example lines kept per template.
        max_versions: template versions kept per template.
        bucket_seconds: width of the per-template count buckets.
        max_buckets: count buckets kept per template (the oldest are dropped).
        binary_ratio: share of control characters above which a line counts as binary.
        overflow_service: the service name used past ``max_services``.
    """

    similarity_threshold: float = 0.5
    sibling_merge: int = 3
    max_sibling_tokens: int = 64
    max_templates: int = 20_000
    max_service_share: float = 0.25
    max_services: int = 1_000
    max_line_chars: int = 8_192
    max_tokens: int = 256
    line_cache_size: int = 100_000
    max_examples: int = 3
    max_versions: int = 16
    bucket_seconds: int = 300
    max_buckets: int = 288
    binary_ratio: float = 0.3
    overflow_service: str = "__overflow__"

    def __post_init__(self) -> None:
        if not 0.0 < self.similarity_threshold <= 1.0:
            raise InvalidInputError("similarity_threshold must be in (0, 1]", field="similarity_threshold")
        if not 0.0 < self.max_service_share <= 1.0:
            raise InvalidInputError("max_service_share must be in (0, 1]", field="max_service_share")
        if self.sibling_merge < 2:
            raise InvalidInputError("sibling_merge must be at least 2", field="sibling_merge")
        for name in ("max_templates", "max_services", "max_line_chars", "max_tokens", "bucket_seconds"):
            if getattr(self, name) < 1:
                raise InvalidInputError(f"{name} must be at least 1", field=name)
        for name in ("line_cache_size", "max_examples", "max_versions", "max_buckets"):
            if getattr(self, name) < 0:
                raise InvalidInputError(f"{name} must not be negative", field=name)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MinerConfig:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)
