"""Avro records in the Confluent wire format, with fastavro.

A value on the wire is one magic byte ``0``, the writer schema's registry id as a 4-byte big-endian
unsigned integer, then the Avro binary encoding of the record (no container, no schema)::

    from common import serde

    schema = serde.load_schema("trade_event")
    value = serde.encode(7, schema, record)
    serde.decode(value, {7: schema}) == record  # up to logical types, see ``decode``

Encoding is fastavro's Cython writer; confluent-kafka's ``AvroSerializer`` does the same work with
several times the overhead per record. ``decode`` never lets a malformed value through as a record:
it raises ``DecodeError`` with one of the reason codes of ``schemas/dead_letter.avsc``, so a job
can route the value to its dead-letter topic as is.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Mapping
from functools import cache
from io import BytesIO
from typing import IO, Any, TypeAlias, cast

import fastavro
from fastavro.types import Schema

from common import schemas

MAGIC_BYTE = 0
HEADER_SIZE = 5
_HEADER = struct.Struct(">BI")
MAX_SCHEMA_ID = 2**32 - 1

# Reason codes of ``DecodeError``; the same strings as the dead-letter ``reason`` field.
WRONG_MAGIC_BYTE = "wrong_magic_byte"
UNKNOWN_SCHEMA_ID = "unknown_schema_id"
TRUNCATED = "truncated"
UNDECODABLE = "undecodable"

ParsedSchema: TypeAlias = Schema
"""A schema as ``fastavro.parse_schema`` returns it."""

WriterSchemas: TypeAlias = Mapping[int, ParsedSchema] | Callable[[int], ParsedSchema | None]
"""Where ``decode`` finds the writer schema of an id: a mapping, or a function that returns
``None`` (or raises ``KeyError``) for an id it does not know."""


class DecodeError(Exception):
    """A value that is not a record in the Confluent wire format with a known schema.

    Attributes:
        reason: Machine-readable code: ``wrong_magic_byte``, ``unknown_schema_id``, ``truncated``
            or ``undecodable``.
        message: Human-readable detail.
    """

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason = reason
        self.message = message


@cache
def load_schema(name: str) -> ParsedSchema:
    """``schemas/<name>.avsc`` parsed by fastavro (once per process).

    Example:
        >>> load_schema("trade_event")["name"]
        'dev.featurestream.events.TradeEvent'
    """
    return fastavro.parse_schema(schemas.parsed_schema(name))


def header(schema_id: int) -> bytes:
    """The 5-byte wire-format header of values written with schema ``schema_id``."""
    if not 0 <= schema_id <= MAX_SCHEMA_ID:
        raise ValueError(f"schema id {schema_id} does not fit in 4 unsigned bytes")
    return _HEADER.pack(MAGIC_BYTE, schema_id)


class _Capture:
    """A write-only file that collects what fastavro writes, after a prebuilt header."""

    __slots__ = ("parts",)

    def __init__(self) -> None:
        self.parts: list[bytes] = []

    def write(self, data: bytes) -> int:
        self.parts.append(data)
        return len(data)


class Encoder:
    """Encodes records of one schema with one registry id; reuse it for every record.

    fastavro's compiled ``schemaless_writer`` builds the body in memory and hands it to ``write``
    in one call, so collecting that call behind a prebuilt header beats a ``BytesIO`` round trip.

    Example:
        >>> encoder = Encoder(7, load_schema("trade_event"))
        >>> value = encoder.encode(record)  # doctest: +SKIP
    """

    __slots__ = ("_capture", "_capture_file", "_header", "schema", "schema_id")

    def __init__(self, schema_id: int, schema: ParsedSchema) -> None:
        self.schema_id = schema_id
        self.schema = fastavro.parse_schema(schema)  # returns a parsed schema unchanged
        self._header = header(schema_id)
        self._capture = _Capture()
        self._capture_file = cast(IO[bytes], self._capture)  # duck-typed: fastavro only writes

    def encode(self, record: Mapping[str, Any]) -> bytes:
        """The wire-format bytes of ``record``.

        Raises:
            ValueError, TypeError: the record does not fit the schema (fastavro's errors).
        """
        capture = self._capture
        capture.parts = [self._header]
        fastavro.schemaless_writer(self._capture_file, self.schema, record)
        return b"".join(capture.parts)


def encode(schema_id: int, schema: ParsedSchema, record: Mapping[str, Any]) -> bytes:
    """The wire-format bytes of one ``record``; for many records, reuse an ``Encoder``."""
    return Encoder(schema_id, schema).encode(record)


def schema_id_of(data: bytes) -> int:
    """The writer schema id in the header of ``data``.

    Raises:
        DecodeError: ``truncated`` if shorter than the header, ``wrong_magic_byte`` if the first
            byte is not 0.
    """
    if len(data) < HEADER_SIZE:
        raise DecodeError(
            TRUNCATED, f"{len(data)} bytes, shorter than the {HEADER_SIZE}-byte header"
        )
    magic, schema_id = _HEADER.unpack_from(data)
    if magic != MAGIC_BYTE:
        raise DecodeError(WRONG_MAGIC_BYTE, f"first byte is {magic:#04x}, not {MAGIC_BYTE:#04x}")
    return int(schema_id)


def _writer_schema(writer_schemas: WriterSchemas, schema_id: int) -> ParsedSchema | None:
    if isinstance(writer_schemas, Mapping):
        return writer_schemas.get(schema_id)
    try:
        return writer_schemas(schema_id)
    except KeyError:
        return None


def decode(
    data: bytes,
    writer_schemas: WriterSchemas,
    reader_schema: ParsedSchema | None = None,
) -> dict[str, Any]:
    """The record in the wire-format value ``data``.

    Logical types come back as fastavro maps them: ``timestamp-millis`` as an aware UTC
    ``datetime``, ``decimal`` as ``Decimal`` with the schema's scale.

    Args:
        data: The Kafka record value.
        writer_schemas: Parsed writer schemas by registry id, or a function from id to schema.
            Anything other than ``KeyError`` that the function raises (a registry outage, say)
            propagates: it is not the value's fault.
        reader_schema: Resolve the record to this schema (Avro schema resolution) if given.

    Returns:
        The record as a dict.

    Raises:
        DecodeError: with ``reason`` ``truncated`` (shorter than the header, or the body ends
            early), ``wrong_magic_byte``, ``unknown_schema_id``, or ``undecodable`` (anything else,
            including bytes left over after the record).
    """
    schema_id = schema_id_of(data)
    writer_schema = _writer_schema(writer_schemas, schema_id)
    if writer_schema is None:
        raise DecodeError(UNKNOWN_SCHEMA_ID, f"no writer schema with id {schema_id}")
    size = len(data)
    body = BytesIO(data)
    body.seek(HEADER_SIZE)
    try:
        record = fastavro.schemaless_reader(body, writer_schema, reader_schema)
    except Exception as exc:  # fastavro raises EOFError, IndexError, ValueError, Unicode...
        if body.tell() >= size:
            raise DecodeError(
                TRUNCATED, f"body ends early ({size} bytes with header): {exc!r}"
            ) from exc
        raise DecodeError(
            UNDECODABLE, f"body does not decode with schema id {schema_id}: {exc!r}"
        ) from exc
    if body.tell() != size:
        raise DecodeError(
            UNDECODABLE,
            f"{size - body.tell()} bytes left over after a record of schema id {schema_id}",
        )
    if not isinstance(record, dict):
        raise DecodeError(UNDECODABLE, f"schema id {schema_id} is not a record schema")
    return record
