"""Following a registry alias: reload when ``@champion`` moves, keep serving when it vanishes."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from opsloop.errors import OpsloopError
from opsloop.mlops.serving.loading import LoadedModel, load_model
from opsloop.mlops.serving.mlmodel import read_mlmodel
from opsloop.mlops.serving.traffic import ModelSlots
from opsloop.mlops.serving.uris import ModelResolver, resolve_model_uri

__all__ = ["AliasWatcher"]

log = logging.getLogger(__name__)


class AliasWatcher:
    """Re-resolves a model URI every ``interval`` seconds and hot-swaps the model when it changed.

    A failed resolution (alias deleted, registry down) keeps the loaded model serving; the failure
    shows in ``status()`` (and so in ``GET /health``) until a later check succeeds. ``on_swap``
    (settable) is called with each model swapped in, once it serves (a failure of it is logged).
    """

    def __init__(self, slots: ModelSlots, uri: str, resolver: ModelResolver | None, interval: float,
                 *, slot: str = "champion") -> None:
        self.slots, self.uri, self.resolver, self.interval, self.slot = slots, uri, resolver, interval, slot
        self.last_error: str | None = None
        self.last_check = 0.0
        self.swaps = 0
        self.on_swap: Callable[[LoadedModel], None] | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def check_once(self) -> bool:
        """Resolve once; returns True when a new model was swapped in."""
        self.last_check = time.time()
        current = getattr(self.slots, self.slot)
        try:
            path = resolve_model_uri(self.uri, self.resolver)
            if read_mlmodel(path).model_uuid == current.model_uuid and current.model_uuid:
                self.last_error = None
                return False
            fresh = load_model(path)
        except OpsloopError as exc:
            self.last_error = exc.message
            log.warning("keeping %s loaded: %s", current.uri, exc.message)
            return False
        except Exception as exc:  # noqa: BLE001 - nothing a registry does may stop the server
            self.last_error = f"{type(exc).__name__}: {exc}"
            log.warning("keeping %s loaded: %s", current.uri, self.last_error)
            return False
        fresh.uri = self.uri
        setattr(self.slots, self.slot, fresh)
        self.swaps += 1
        self.last_error = None
        log.info("%s now serves model %s", self.uri, fresh.model_uuid)
        if self.on_swap is not None:
            try:
                self.on_swap(fresh)
            except Exception:  # noqa: BLE001 - the new model serves whatever its followers make of it
                log.exception("after %s moved to model %s", self.uri, fresh.model_uuid)
        return True

    def start(self) -> None:
        if self.interval <= 0 or self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name=f"watch {self.uri}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.check_once()

    def status(self) -> dict[str, Any]:
        return {"alias": {"uri": self.uri, "state": "stale" if self.last_error else "current",
                          "error": self.last_error, "last_check": self.last_check, "swaps": self.swaps}}
