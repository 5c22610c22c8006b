"""The streaming template miner: every line gets a stable template id as it arrives."""

from __future__ import annotations

import re
import time as _time
from dataclasses import dataclass
from typing import Any

from opsloop.aiops.logs.config import MinerConfig
from opsloop.aiops.logs.masking import WILDCARD, Masker, shape_of, spread_json
from opsloop.aiops.logs.matching import ServiceIndex, generalise
from opsloop.aiops.logs.stats import MinerStats
from opsloop.aiops.logs.store import InMemoryTemplateStore, TemplateStore
from opsloop.aiops.logs.templates import Template, TemplateVersion
from opsloop.errors import InvalidInputError, NotFoundError

__all__ = ["LogMiner", "Match"]

BINARY_MESSAGE = "<binary>"
# Longer lines are mined but never cached, so the caches' memory stays bounded by their counts.
_CACHEABLE_CHARS = 2048
_EXAMPLE_CHARS = 512  # of an example line kept
_SNAPSHOT_FORMAT = 1


@dataclass(frozen=True, slots=True)
class Match:
    """Where one line went.

    Attributes:
        template_id: the template's stable id.
        change: ``"none"``, ``"created"`` (a new template) or ``"generalised"`` (a new version).
        service: the service the line was filed under.
        merged: ids of templates folded into this one while filing the line (their ids now
            resolve to ``template_id``; a detector should carry their history over).
    """

    template_id: int
    change: str
    service: str
    merged: tuple[int, ...] = ()


class LogMiner:
    """Assigns log lines to templates online; the templates live in a ``TemplateStore``.

    Args:
        config: the global configuration (defaults are the benchmarked ones).
        store: where template births and new versions are written (in-memory by default);
            counts reach it on ``flush()``.
        masker: the variable masking (all built-in kinds by default).

    Not thread-safe: give each ingestion worker its own miner or serialise calls.
    """

    def __init__(
        self,
        config: MinerConfig | None = None,
        *,
        store: TemplateStore | None = None,
        masker: Masker | None = None,
    ) -> None:
        self.config = config or MinerConfig()
        self.store: TemplateStore = store if store is not None else InMemoryTemplateStore()
        self.masker = masker or Masker()
        self.stats = MinerStats()
        self._templates: dict[int, Template] = {}
        self._services: dict[str, ServiceIndex] = {}
        self._dirty: set[int] = set()
        self._merged_now: list[int] = []
        self._next_id = 1
        self._live_count = 0  # templates not merged into another: what ``max_templates`` bounds

    # -- the hot path -------------------------------------------------------------------
    def add(
        self,
        message: str | bytes,
        *,
        service: str = "",
        time: float | None = None,
        level: str | None = None,
    ) -> Match:
        """File one log message (the part after the header) and return its template id."""
        self.stats.lines += 1
        if isinstance(message, bytes):
            message = self.decode(message)
        message = spread_json(message)
        index = self._services.get(service)
        if index is None:
            service, index = self._open_service(service)
        tid = index.line_cache.get(message)
        if tid is not None:
            self.stats.line_cache_hits += 1
            template = self._templates[tid]
            if template.merged_into is not None:
                template = self._live(template)
            self._count(template, message, time, level)
            return Match(template.id, "none", service)
        template, change = self._find_or_create(index, service, message, time)
        if self.config.line_cache_size and len(message) <= _CACHEABLE_CHARS:
            if len(index.line_cache) >= self._cache_share():
                index.line_cache.clear()
                self.stats.cache_resets += 1
            index.line_cache[message] = template.id
        self._count(template, message, time, level)
        if self._merged_now:
            merged, self._merged_now = tuple(self._merged_now), []
            return Match(template.id, change, service, merged)
        return Match(template.id, change, service)

    def _count(self, template: Template, message: str, time: float | None, level: str | None) -> None:
        now = _time.time() if time is None else time
        template.count += 1
        # the earliest and latest line times: lines of several hosts, or a shipper's backlog, come out of order
        if template.count == 1 or now < template.first_seen:
            template.first_seen = now
        if template.count == 1 or now > template.last_seen:
            template.last_seen = now
        width = self.config.bucket_seconds
        bucket = int(now // width) * width
        buckets = template.buckets
        buckets[bucket] = buckets.get(bucket, 0) + 1
        if len(buckets) > self.config.max_buckets:
            del buckets[min(buckets)]
        if level:
            template.levels[level] = template.levels.get(level, 0) + 1
        if len(template.examples) < self.config.max_examples:
            example = message[:_EXAMPLE_CHARS]  # compared as kept: a longer line repeated is one example
            if example not in template.examples:
                template.examples.append(example)
        self._dirty.add(template.id)

    # -- the slow path ------------------------------------------------------------------
    def _find_or_create(
        self, index: ServiceIndex, service: str, message: str, time: float | None
    ) -> tuple[Template, str]:
        shape = shape_of(message) if self.masker.shape_safe and len(message) <= _CACHEABLE_CHARS else None
        if shape is not None:
            tid = index.shape_cache.get(shape)
            if tid is not None:
                self.stats.masked_cache_hits += 1
                return self._live(self._templates[tid]), "none"
        template, change, masked = self._match_masked(index, service, message, time)
        # Only a line whose digits were all masked away is decided by its shape alone:
        # an unmasked ``10000ms`` must still be compared with ``40000ms``.
        if shape is not None and self.config.line_cache_size and _DIGIT.search(masked) is None:
            if len(index.shape_cache) >= self._cache_share():
                index.shape_cache.clear()
                self.stats.cache_resets += 1
            index.shape_cache[shape] = template.id
        return template, change

    def _match_masked(
        self, index: ServiceIndex, service: str, message: str, time: float | None
    ) -> tuple[Template, str, str]:
        tokens = self._tokens(message)
        masked = " ".join(tokens)
        tid = index.masked_cache.get(masked)
        if tid is not None:
            self.stats.masked_cache_hits += 1
            return self._live(self._templates[tid]), "none", masked
        template = index.best(tokens, self.config.similarity_threshold)
        change = "none"
        if template is None:
            cfg = self.config
            if self._live_count >= cfg.max_templates or index.size() >= cfg.max_templates * cfg.max_service_share:
                return self._overflow(index, service, time), "none", masked
            template = self._create(index, service, tokens, time)
            change = "created"
        else:
            wider = generalise(template.tokens, tokens)
            if wider is not None:
                index.unregister(template)
                self._new_version(template, wider, time)
                index.register(template, self.config.max_sibling_tokens)
                change = "generalised"
        if change != "none":
            merged = self._settle(index, template, time)
            if merged is not template:
                template, change = merged, "generalised"
        if self.config.line_cache_size and len(masked) <= _CACHEABLE_CHARS:
            if len(index.masked_cache) >= self._cache_share():
                index.masked_cache.clear()
                self.stats.cache_resets += 1
            index.masked_cache[masked] = template.id
        return template, change, masked

    def _tokens(self, message: str) -> list[str]:
        cfg = self.config
        if len(message) > cfg.max_line_chars:
            self.stats.truncated_lines += 1
            message = message[: cfg.max_line_chars]
        if not message.strip():
            self.stats.empty_lines += 1
            return []
        if _control_share(message) > cfg.binary_ratio:
            self.stats.binary_lines += 1
            return [BINARY_MESSAGE]
        tokens = self.masker.mask_tokens(message)
        if len(tokens) > cfg.max_tokens:
            tokens = tokens[: cfg.max_tokens - 1] + [WILDCARD]
        return tokens

    def _create(self, index: ServiceIndex, service: str, tokens: list[str], time: float | None) -> Template:
        now = _time.time() if time is None else time
        # saved at birth, before its counts reach the store: it is seen from its first line on (not from 1970)
        template = Template(id=self._next_id, service=service, tokens=tokens, first_seen=now, last_seen=now)
        template.versions.append(TemplateVersion(1, template.text, now))
        self._next_id += 1
        self._templates[template.id] = template
        self._live_count += 1
        index.add(template, self.config.max_sibling_tokens)
        self.stats.templates_created += 1
        self.store.save(template)
        return template

    def _new_version(self, template: Template, tokens: list[str], time: float | None) -> None:
        now = _time.time() if time is None else time
        template.tokens[:] = tokens
        template.versions.append(TemplateVersion(template.version + 1, template.text, now))
        if len(template.versions) > self.config.max_versions:
            del template.versions[0]
        self.stats.templates_generalised += 1
        self.store.save(template)

    def _cache_share(self) -> int:
        return max(64, self.config.line_cache_size // len(self._services))

    def _live(self, template: Template) -> Template:
        while template.merged_into is not None:
            template = self._templates[template.merged_into]
        return template

    def _settle(self, index: ServiceIndex, template: Template, time: float | None) -> Template:
        """Merge sibling groups around ``template`` until none is left; returns its survivor."""
        while True:
            found = index.sibling_group(template, self.config.sibling_merge)
            if found is None:
                return template
            _position, ids = found
            template = self._merge(index, [self._templates[i] for i in ids], time)

    def _merge(self, index: ServiceIndex, members: list[Template], time: float | None) -> Template:
        """Fold ``members`` (and any template they become equal to) into the oldest of them."""
        survivor = members[0]
        tokens = list(survivor.tokens)
        for member in members[1:]:  # keeps delimited context: user=root, user=admin -> user=<*>
            tokens = generalise(tokens, member.tokens) or tokens
        index.unregister(survivor)
        twins = [t for t in index.by_length.get(len(tokens), ()) if t is not survivor and t.tokens == tokens]
        for member in (*members[1:], *twins):
            index.remove(member)
            member.merged_into = survivor.id
            self._live_count -= 1
            self._merged_now.append(member.id)
            survivor.absorb(member, self.config.max_examples)
            self.stats.templates_merged += 1
            self.store.save(member)
        self._new_version(survivor, tokens, time)
        index.register(survivor, self.config.max_sibling_tokens)
        return survivor

    def resolve(self, template_id: int) -> int:
        """The id of the live template a (possibly merged) id now stands for."""
        return self._live(self.template(template_id)).id

    def _overflow(self, index: ServiceIndex, service: str, time: float | None) -> Template:
        self.stats.overflow_lines += 1
        if index.overflow_id is None:
            now = _time.time() if time is None else time
            template = Template(id=self._next_id, service=service, tokens=[WILDCARD], first_seen=now, last_seen=now)
            template.versions.append(TemplateVersion(1, WILDCARD, now))
            self._next_id += 1
            self._templates[template.id] = template
            self._live_count += 1
            index.overflow_id = template.id
            self.store.save(template)
        return self._templates[index.overflow_id]

    def _open_service(self, service: str) -> tuple[str, ServiceIndex]:
        if len(self._services) >= self.config.max_services:
            self.stats.overflow_services += 1
            service = self.config.overflow_service
            found = self._services.get(service)
            if found is not None:
                return service, found
        index = self._services[service] = ServiceIndex()
        return service, index

    def decode(self, raw: bytes) -> str:
        """UTF-8 text of ``raw``; invalid bytes become U+FFFD and are counted in ``stats.invalid_utf8``."""
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            self.stats.invalid_utf8 += 1
            return raw.decode("utf-8", errors="replace")

    # -- queries ------------------------------------------------------------------------
    def match(self, message: str, *, service: str = "") -> Template | None:
        """The template ``message`` would join, without learning from it."""
        index = self._services.get(service)
        if index is None:
            return None
        message = spread_json(message)
        tid = index.line_cache.get(message)
        if tid is not None:  # the line may have made a template merged since: the one it now stands for
            return self._live(self._templates[tid])
        tokens = self.masker.mask_tokens(message[: self.config.max_line_chars])
        return index.best(tokens, self.config.similarity_threshold)

    def template(self, template_id: int) -> Template:
        """The template with this id (a merged id gives the old record; see ``resolve``).

        Raises ``NotFoundError`` when the id was never issued.
        """
        try:
            return self._templates[template_id]
        except KeyError:
            raise NotFoundError(f"log template {template_id} does not exist") from None

    def templates(self, service: str | None = None) -> list[Template]:
        """Templates of one service (all when ``None``), most frequent first."""
        if service is None:  # every live template, overflow ones included
            found = [t for t in self._templates.values() if t.merged_into is None]
        else:
            index = self._services.get(service)
            found = index.templates() if index else []
            if index is not None and index.overflow_id is not None:
                found.append(self._templates[index.overflow_id])
        return sorted(found, key=lambda t: (-t.count, t.id))

    def services(self) -> list[str]:
        return sorted(self._services)

    def flush(self) -> int:
        """Write templates whose counts changed since the last flush to the store."""
        dirty, self._dirty = self._dirty, set()
        templates = [self._templates[tid] for tid in sorted(dirty)]
        save_many = getattr(self.store, "save_many", None)
        if save_many is not None:  # one write (one transaction in SQL) for them all
            save_many(templates)
        else:
            for template in templates:
                self.store.save(template)
        return len(dirty)

    # -- state --------------------------------------------------------------------------
    def snapshot(self, *, templates: bool = True) -> dict[str, Any]:
        """The miner's full state as JSON-ready data (caches excluded: they rebuild).

        Args:
            templates: include the templates; ``False`` where the miner's store keeps them (call
                ``flush()`` first): ``restore`` then reads them from the store, and the snapshot stays
                small however many templates there are.
        """
        data = {
            "format": _SNAPSHOT_FORMAT,
            "config": self.config.to_dict(),
            "next_id": self._next_id,
            "stats": self.stats.to_dict(),
            "services": {s: ix.overflow_id for s, ix in self._services.items()},
        }
        if templates:
            data["templates"] = [t.to_dict() for t in self._templates.values()]
        return data

    @classmethod
    def restore(
        cls, data: dict[str, Any], *, store: TemplateStore | None = None, masker: Masker | None = None
    ) -> LogMiner:
        """A miner rebuilt from ``snapshot()``; template ids and versions are kept.

        A snapshot taken with ``templates=False`` takes its templates from ``store``, whose rows may be
        newer (a template is stored at birth): ids go on after the highest stored one.
        """
        if data.get("format") != _SNAPSHOT_FORMAT:
            raise InvalidInputError("unknown log miner snapshot format", field="format")
        miner = cls(MinerConfig.from_dict(data.get("config", {})), store=store, masker=masker)
        miner._next_id = int(data["next_id"])
        miner.stats = MinerStats(**data.get("stats", {}))
        for service, overflow_id in data.get("services", {}).items():
            miner._services[service] = ServiceIndex()
            miner._services[service].overflow_id = overflow_id
        if "templates" in data:
            found = [Template.from_dict(item) for item in data["templates"]]
        else:
            found = miner.store.list()
            miner._next_id = max([miner._next_id, *(t.id + 1 for t in found)])
        for template in found:
            miner._templates[template.id] = template
            miner._live_count += template.merged_into is None
            index = miner._services.setdefault(template.service, ServiceIndex())
            if template.id != index.overflow_id and template.merged_into is None:
                index.add(template, miner.config.max_sibling_tokens)
        return miner


_DIGIT = re.compile("[0-9]")
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f\ufffd]")


def _control_share(message: str) -> float:
    if _CONTROL.search(message) is None:
        return 0.0
    return len(_CONTROL.findall(message)) / len(message)
