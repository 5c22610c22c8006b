"""opsloop's Python SDK: a ``Client`` over a transport (HTTP server, embedded store, or mock).

    import opsloop

    with opsloop.start_run(experiment="mnist", params={"lr": 0.01}) as run:
        for step in range(1000):
            run.log_metric("loss", 1 / (step + 1), step=step)
"""

from opsloop.sdk.batching import MetricBatcher
from opsloop.sdk.client import Client, start_run
from opsloop.sdk.run import Run
from opsloop.sdk.transports import HttpTransport, LocalTransport, MockTransport, Retries, Transport

__all__ = [
    "Client",
    "HttpTransport",
    "LocalTransport",
    "MetricBatcher",
    "MockTransport",
    "Retries",
    "Run",
    "Transport",
    "start_run",
]
