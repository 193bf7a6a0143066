"""Malformed values for exercising dead-letter paths: what ``--bad-pct`` writes.

Each kind breaks a good, encoded value in one way that ``common.serde.decode`` must reject with a
known reason:

=====================  ==============================================  ======================
kind                   value                                           ``DecodeError.reason``
=====================  ==============================================  ======================
``garbage``            valid header, then bytes that are not Avro      ``undecodable``
``wrong_magic_byte``   the good value with a first byte other than 0   ``wrong_magic_byte``
``unknown_schema_id``  the good value under an id the registry lacks   ``unknown_schema_id``
``truncated``          the good value cut short (1 byte at least)      ``truncated``
=====================  ==============================================  ======================

Which values are replaced is drawn from its own random stream, so the good events of a run are
the same whatever ``--bad-pct`` is: a bad value takes the place (and key) of a good one.
"""

from __future__ import annotations

import random
from enum import StrEnum

from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.error import SchemaRegistryError

from common import serde


class MalformedKind(StrEnum):
    """The ways a value is broken, cycled through in this order."""

    GARBAGE = "garbage"
    WRONG_MAGIC_BYTE = "wrong_magic_byte"
    UNKNOWN_SCHEMA_ID = "unknown_schema_id"
    TRUNCATED = "truncated"

    @property
    def expected_reason(self) -> str:
        """The reason ``common.serde.decode`` gives for a value of this kind."""
        return _EXPECTED_REASONS[self]


_EXPECTED_REASONS = {
    MalformedKind.GARBAGE: serde.UNDECODABLE,
    MalformedKind.WRONG_MAGIC_BYTE: serde.WRONG_MAGIC_BYTE,
    MalformedKind.UNKNOWN_SCHEMA_ID: serde.UNKNOWN_SCHEMA_ID,
    MalformedKind.TRUNCATED: serde.TRUNCATED,
}
_KINDS = tuple(MalformedKind)

# An id this far above the registered one is unused in any registry of a sane size.
UNKNOWN_ID_DISTANCE = 1_000_000
_UNKNOWN_ID_ATTEMPTS = 100


def unknown_schema_id(known_id: int, registry: SchemaRegistryClient | None = None) -> int:
    """An id far above ``known_id`` that ``registry`` (if given) confirms it does not have.

    Raises:
        RuntimeError: every id tried exists (an implausible registry).
        SchemaRegistryError: the registry failed other than with "not found".
    """
    candidate = known_id + UNKNOWN_ID_DISTANCE
    if candidate > serde.MAX_SCHEMA_ID:
        candidate = serde.MAX_SCHEMA_ID - UNKNOWN_ID_DISTANCE
    if registry is None:
        return candidate
    for _ in range(_UNKNOWN_ID_ATTEMPTS):
        try:
            registry.get_schema(candidate)
        except SchemaRegistryError as exc:
            if exc.http_status_code == 404:
                return candidate
            raise
        candidate += 1
    raise RuntimeError(f"the registry has every schema id from {candidate - _UNKNOWN_ID_ATTEMPTS}")


class Malformer:
    """Decides which values to break, and breaks them.

    Args:
        seed: Seed of the choice of values and of the broken bytes.
        bad_pct: Share of values to replace, in percent (0 to 100).
        schema_id: The id good values are written with (kept by ``garbage``).
        unknown_id: The id ``unknown_schema_id`` values claim.
    """

    def __init__(self, seed: int, bad_pct: float, schema_id: int, unknown_id: int) -> None:
        if not 0.0 <= bad_pct <= 100.0:
            raise ValueError(f"bad_pct must be within 0 and 100, not {bad_pct}")
        self._rng = random.Random(f"featurestream:{seed}:malformed")
        self._share = bad_pct / 100.0
        self._header = serde.header(schema_id)
        self._unknown_header = serde.header(unknown_id)
        self.counts = dict.fromkeys(MalformedKind, 0)
        self._emitted = 0

    def pick(self) -> bool:
        """Whether to replace the next value (one draw per value, bad or not)."""
        return self._rng.random() < self._share

    def break_value(self, good: bytes) -> tuple[MalformedKind, bytes]:
        """The next malformed kind in the cycle, and ``good`` broken that way."""
        kind = _KINDS[self._emitted % len(_KINDS)]
        self._emitted += 1
        self.counts[kind] += 1
        return kind, self.make(kind, good)

    def make(self, kind: MalformedKind, good: bytes) -> bytes:
        """``good`` (a wire-format value) broken the way ``kind`` says."""
        rng = self._rng
        if kind is MalformedKind.GARBAGE:
            # The schemas of generated events start with a string id. Claim one of ``length``
            # bytes and fill it with bytes 0xF8-0xFF, which never occur in UTF-8, then junk.
            length = rng.randint(1, 40)
            claimed = bytes(rng.randint(0xF8, 0xFF) for _ in range(length))
            tail = rng.randbytes(rng.randint(1, 40))
            return self._header + bytes([2 * length]) + claimed + tail
        if kind is MalformedKind.WRONG_MAGIC_BYTE:
            return bytes([rng.randint(1, 0xFF)]) + good[1:]
        if kind is MalformedKind.UNKNOWN_SCHEMA_ID:
            return self._unknown_header + good[serde.HEADER_SIZE :]
        return good[: rng.randint(1, len(good) - 1)]
