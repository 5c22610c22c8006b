"""Ingestion: each supported wire format decoded into ``Signal``s (or metric points), one module per format.

Decoders own no I/O: they take bytes (and a content type), validate against ``Limits`` and return a
``Decoded`` batch naming what they accepted and what they rejected, so endpoints can answer the way
each protocol expects (OTLP's partial success, Alertmanager's and Loki's 4xx).
"""

from opsloop.aiops.ingestion.normalise import Decoded, Limits, MetricPoint, Rejection

__all__ = ["Decoded", "Limits", "MetricPoint", "Rejection"]
