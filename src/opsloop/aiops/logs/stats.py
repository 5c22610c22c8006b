"""Counters that make the miner's behaviour on odd input visible."""

from __future__ import annotations

from dataclasses import asdict, dataclass

__all__ = ["MinerStats"]


@dataclass(slots=True)
class MinerStats:
    """Running counters of a ``LogMiner``.

    Attributes:
        lines: lines seen.
        line_cache_hits: lines answered from the exact-line cache (the fast path).
        masked_cache_hits: lines answered from the shape cache (digits zeroed) or the
            masked-message cache, without a template search.
        templates_created, templates_generalised: template births and new versions.
        templates_merged: templates folded into a sibling (their ids resolve to it).
        empty_lines: empty or whitespace-only lines.
        invalid_utf8: byte lines that were not valid UTF-8 (decoded with replacement).
        binary_lines: lines dominated by control characters (filed under one ``<binary>`` template).
        truncated_lines: lines longer than ``max_line_chars``.
        overflow_lines: lines filed under an overflow template because ``max_templates`` was reached.
        overflow_services: lines whose service was replaced because ``max_services`` was reached.
        cache_resets: times a bounded cache was full and cleared.
    """

    lines: int = 0
    line_cache_hits: int = 0
    masked_cache_hits: int = 0
    templates_created: int = 0
    templates_generalised: int = 0
    templates_merged: int = 0
    empty_lines: int = 0
    invalid_utf8: int = 0
    binary_lines: int = 0
    truncated_lines: int = 0
    overflow_lines: int = 0
    overflow_services: int = 0
    cache_resets: int = 0

    def to_dict(self) -> dict[str, int]:
        return asdict(self)
