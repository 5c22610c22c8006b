"""Champion/challenger traffic: one model, a shadow challenger, or a weighted split."""

from __future__ import annotations

import random
from dataclasses import dataclass

from opsloop.errors import InvalidInputError
from opsloop.mlops.serving.loading import LoadedModel

__all__ = ["ModelSlots", "TrafficPolicy"]

MODES = ("single", "shadow", "split")


@dataclass(frozen=True, slots=True)
class TrafficPolicy:
    """How requests reach the challenger.

    Attributes:
        mode: ``single`` (champion only), ``shadow`` (the challenger scores a copy of every request
            after the caller got the champion's answer) or ``split`` (a share of requests is
            answered by the challenger).
        challenger_weight: the share of requests answered by the challenger in ``split`` mode.
    """

    mode: str = "single"
    challenger_weight: float = 0.1

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise InvalidInputError(f"traffic mode must be one of {MODES}, not {self.mode!r}", field="mode")
        if not 0.0 <= self.challenger_weight <= 1.0:
            raise InvalidInputError("challenger weight must be within [0, 1]", field="challenger_weight")


class ModelSlots:
    """The champion, an optional challenger, and the policy that picks who answers.

    Replacing ``champion`` or ``challenger`` is one attribute store, so an alias watcher can swap a
    model while requests are in flight.
    """

    def __init__(self, champion: LoadedModel, challenger: LoadedModel | None = None,
                 policy: TrafficPolicy | None = None, *, seed: int | None = None, variant: str = "champion") -> None:
        self.champion = champion
        # what a lone model answers as (x-opsloop-variant, and the samples' variant): the server serves
        # models:/NAME@challenger on its own, and its rows are not the champion's
        self.variant = variant
        self.challenger = challenger
        self.policy = policy or TrafficPolicy("single" if challenger is None else "shadow")
        if self.policy.mode != "single" and challenger is None:
            raise InvalidInputError(f"traffic mode {self.policy.mode!r} needs a challenger model",
                                    field="challenger")
        self._random = random.Random(seed).random

    def route(self) -> tuple[str, LoadedModel, LoadedModel | None]:
        """(variant answering, model answering, model scoring a shadow copy or ``None``)."""
        mode = self.policy.mode
        if mode == "single" or self.challenger is None:
            return self.variant, self.champion, None
        if mode == "shadow":
            return "champion", self.champion, self.challenger
        if self._random() < self.policy.challenger_weight:
            return "challenger", self.challenger, None
        return "champion", self.champion, None
