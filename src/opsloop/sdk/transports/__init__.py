"""Backends the SDK talks through: a server over HTTP, the embedded store in-process, or memory."""

from opsloop.sdk.transports.base import Point, Transport
from opsloop.sdk.transports.http import HttpTransport, Retries
from opsloop.sdk.transports.local import LocalTransport
from opsloop.sdk.transports.mock import MockTransport

__all__ = ["HttpTransport", "LocalTransport", "MockTransport", "Point", "Retries", "Transport"]
