"""Correlation: turning a storm of signals into a few incidents.

``Topology`` (declared and learned service dependencies), ``Correlator`` (which open incident a new
signal joins, and why), ``Silences`` and maintenance windows, ``Inhibitor`` (a root alert mutes its
dependents) and ``FlapDetector``.
"""

from opsloop.aiops.correlation.flapping import FlapDetector
from opsloop.aiops.correlation.grouping import Correlator, Decision, GroupingConfig
from opsloop.aiops.correlation.inhibition import Inhibitor, InhibitRule
from opsloop.aiops.correlation.silences import Matcher, Silence, parse_matchers
from opsloop.aiops.correlation.topology import Topology

__all__ = [
    "Correlator",
    "Decision",
    "FlapDetector",
    "GroupingConfig",
    "InhibitRule",
    "Inhibitor",
    "Matcher",
    "Silence",
    "Topology",
    "parse_matchers",
]
