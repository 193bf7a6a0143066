"""The event generator behind ``featurestream generate``: realistic, deterministic, optionally bad.

Modules: ``events`` (what is generated, shared helpers), ``arrivals`` (the simulated clock),
``trades`` and ``payments`` (the two event kinds), ``malformed`` (bad values for dead-letter
paths), ``sinks`` (Kafka, Avro file), ``runner`` (the Python API: ``produce``,
``generate_events``), ``cli`` (the click group).
"""

from common.generate.events import KINDS, GeneratedEvent, Kind
from common.generate.malformed import MalformedKind
from common.generate.runner import Summary, generate_events, produce

__all__ = [
    "KINDS",
    "GeneratedEvent",
    "Kind",
    "MalformedKind",
    "Summary",
    "generate_events",
    "produce",
]
