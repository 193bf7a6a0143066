"""The Confluent wire format in ``common.serde``: round trips and every rejection reason."""

from __future__ import annotations

import struct
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from common import serde
from common.serde import DecodeError

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
SCHEMA_ID = 42

TRADE: dict[str, Any] = {
    "trade_id": "trd-0a1b2c3d-17",
    "venue": "coinbase",
    "symbol": "BTC-USD",
    "side": "SELL",
    "price": Decimal("97123.45"),
    "quantity": Decimal("0.00012345"),
    "account_id": "acc_3f9a1c0b7e",
    "event_time": 1_735_689_600_123,
    "producer": "featurestream-generator",
    "sequence": 17,
}
PAYMENT: dict[str, Any] = {
    "payment_id": "pay-0a1b2c3d-5",
    "merchant_id": "mer_9c1e2f3a",
    "card_id": "tok_3f9a1c0b7e2d4a6f",
    "amount_minor": 1250,
    "currency": "JPY",
    "amount_usd_cents": 838,
    "country": "JP",
    "mcc": "5812",
    "channel": "CONTACTLESS",
    "status": "AUTHORIZED",
    "event_time": 1_735_689_600_000,
    "producer": "featurestream-generator",
    "sequence": 5,
}
DEAD_LETTER: dict[str, Any] = {
    "source_topic": "payments",
    "source_partition": 1,
    "source_offset": 123_456,
    "job": "payment_features",
    "reason": "wrong_magic_byte",
    "message": "first byte is 0x07, not 0x00",
    "raw_key": b"tok_3f9a1c0b7e2d4a6f",
    "raw_value": b"\x07\x00\x00\x00\x01garbage",
    "source_timestamp": 1_735_689_600_001,
    "dead_letter_time": 1_735_689_601_000,
    "feature_view": None,
}
DEAD_LETTER_WITHOUT_RAW: dict[str, Any] = {
    **DEAD_LETTER,
    "reason": "late_after_restore",
    "feature_view": "payment_card.v1",
    "raw_key": None,
    "raw_value": None,
    "source_timestamp": None,
}
SAMPLES = [
    ("trade_event", TRADE),
    ("payment_event", PAYMENT),
    ("dead_letter", DEAD_LETTER),
    ("dead_letter", DEAD_LETTER_WITHOUT_RAW),
]
TIMESTAMP_FIELDS = {"event_time", "source_timestamp", "dead_letter_time"}


def as_decoded(record: dict[str, Any]) -> dict[str, Any]:
    """``record`` as fastavro reads it back: epoch milliseconds become aware datetimes."""
    return {
        name: EPOCH + timedelta(milliseconds=value)
        if name in TIMESTAMP_FIELDS and value is not None
        else value
        for name, value in record.items()
    }


@pytest.mark.parametrize(("name", "record"), SAMPLES)
def test_round_trip_with_each_schema(name: str, record: dict[str, Any]) -> None:
    schema = serde.load_schema(name)

    value = serde.encode(SCHEMA_ID, schema, record)

    assert serde.decode(value, {SCHEMA_ID: schema}) == as_decoded(record)


def test_value_is_magic_byte_then_big_endian_id_then_avro_body() -> None:
    schema = serde.load_schema("trade_event")

    value = serde.encode(0x01020304, schema, TRADE)

    assert value[:5] == b"\x00\x01\x02\x03\x04"
    assert serde.schema_id_of(value) == 0x01020304
    # The body starts with the first field, the trade id: zigzag length, then UTF-8.
    assert value[5] == 2 * len(TRADE["trade_id"])
    assert value[6 : 6 + len(TRADE["trade_id"])] == TRADE["trade_id"].encode()


def test_decoded_decimals_and_timestamps_are_exact() -> None:
    schema = serde.load_schema("trade_event")

    decoded = serde.decode(serde.encode(1, schema, TRADE), {1: schema})

    assert decoded["price"] == Decimal("97123.45")
    assert decoded["price"].as_tuple().exponent == -8  # the schema's scale
    assert decoded["quantity"] == Decimal("0.00012345")
    assert decoded["event_time"] == datetime(2025, 1, 1, 0, 0, 0, 123_000, tzinfo=UTC)


def test_encoder_is_reusable_and_equals_one_shot_encode() -> None:
    schema = serde.load_schema("payment_event")
    encoder = serde.Encoder(SCHEMA_ID, schema)
    records = [{**PAYMENT, "sequence": n, "amount_minor": 100 * n} for n in range(5)]

    values = [encoder.encode(record) for record in records]

    assert values == [serde.encode(SCHEMA_ID, schema, record) for record in records]
    assert [serde.decode(v, {SCHEMA_ID: schema})["sequence"] for v in values] == list(range(5))


def test_encoding_a_record_that_breaks_the_schema_fails() -> None:
    schema = serde.load_schema("trade_event")

    with pytest.raises(ValueError):
        serde.encode(1, schema, {**TRADE, "price": Decimal("0.123456789")})  # scale 9 > 8
    with pytest.raises(ValueError):
        serde.encode(1, schema, {**TRADE, "side": "HOLD"})


def test_writer_schemas_may_be_a_function() -> None:
    schema = serde.load_schema("payment_event")
    value = serde.encode(7, schema, PAYMENT)
    asked: list[int] = []

    def lookup(schema_id: int) -> serde.ParsedSchema | None:
        asked.append(schema_id)
        return schema if schema_id == 7 else None

    assert serde.decode(value, lookup)["card_id"] == PAYMENT["card_id"]
    assert asked == [7]


def test_decode_resolves_to_a_reader_schema() -> None:
    writer = serde.load_schema("payment_event")
    reader = {
        "type": "record",
        "name": "PaymentEvent",
        "namespace": "dev.featurestream.events",
        "fields": [
            {"name": "card_id", "type": "string"},
            {"name": "amount_usd_cents", "type": "long"},
            {"name": "note", "type": "string", "default": ""},
        ],
    }

    decoded = serde.decode(serde.encode(3, writer, PAYMENT), {3: writer}, reader)

    assert decoded == {"card_id": PAYMENT["card_id"], "amount_usd_cents": 838, "note": ""}


def reason_of(value: bytes, writer_schemas: serde.WriterSchemas) -> str:
    with pytest.raises(DecodeError) as caught:
        serde.decode(value, writer_schemas)
    assert caught.value.message
    assert str(caught.value).startswith(caught.value.reason)
    return caught.value.reason


@pytest.mark.parametrize("size", range(5))
def test_shorter_than_the_header_is_truncated(size: int) -> None:
    schema = serde.load_schema("trade_event")
    value = serde.encode(1, schema, TRADE)

    assert reason_of(value[:size], {1: schema}) == serde.TRUNCATED


def test_every_cut_of_the_body_is_truncated() -> None:
    schema = serde.load_schema("trade_event")
    value = serde.encode(1, schema, TRADE)

    reasons = {reason_of(value[:cut], {1: schema}) for cut in range(5, len(value))}

    assert reasons == {serde.TRUNCATED}


@pytest.mark.parametrize("first_byte", [1, 0x7F, 0xFF])
def test_non_zero_first_byte_is_wrong_magic_byte(first_byte: int) -> None:
    schema = serde.load_schema("payment_event")
    value = serde.encode(1, schema, PAYMENT)

    assert reason_of(bytes([first_byte]) + value[1:], {1: schema}) == serde.WRONG_MAGIC_BYTE


def test_id_without_a_writer_schema_is_unknown_schema_id() -> None:
    schema = serde.load_schema("payment_event")
    value = serde.encode(1, schema, PAYMENT)
    unknown = struct.pack(">BI", 0, 1_000_001) + value[5:]

    def raises_key_error(schema_id: int) -> serde.ParsedSchema:
        raise KeyError(schema_id)

    assert reason_of(unknown, {1: schema}) == serde.UNKNOWN_SCHEMA_ID
    assert reason_of(unknown, lambda schema_id: None) == serde.UNKNOWN_SCHEMA_ID
    assert reason_of(unknown, raises_key_error) == serde.UNKNOWN_SCHEMA_ID


def test_lookup_failures_other_than_key_error_propagate() -> None:
    schema = serde.load_schema("payment_event")
    value = serde.encode(1, schema, PAYMENT)

    def registry_down(schema_id: int) -> serde.ParsedSchema:
        raise ConnectionError("registry unreachable")

    with pytest.raises(ConnectionError):
        serde.decode(value, registry_down)


def test_bytes_after_the_record_are_undecodable() -> None:
    schema = serde.load_schema("trade_event")
    value = serde.encode(1, schema, TRADE)

    assert reason_of(value + b"\x00", {1: schema}) == serde.UNDECODABLE


def test_invalid_utf8_string_is_undecodable() -> None:
    schema = serde.load_schema("trade_event")
    value = serde.encode(1, schema, TRADE)
    # Replace the trade id's characters by bytes that never occur in UTF-8.
    length = len(TRADE["trade_id"])
    broken = value[:6] + b"\xff" * length + value[6 + length :]

    assert reason_of(broken, {1: schema}) == serde.UNDECODABLE


def test_enum_index_out_of_range_is_undecodable() -> None:
    schema = serde.load_schema("trade_event")
    value = bytearray(serde.encode(1, schema, TRADE))
    side_at = 5 + sum(1 + len(TRADE[f]) for f in ("trade_id", "venue", "symbol"))
    assert value[side_at] == 2  # SELL: index 1, zigzag 2
    value[side_at] = 2 * 9  # index 9 of a two-symbol enum

    assert reason_of(bytes(value), {1: schema}) == serde.UNDECODABLE


def test_header_rejects_ids_outside_four_unsigned_bytes() -> None:
    assert serde.header(serde.MAX_SCHEMA_ID)[1:] == b"\xff\xff\xff\xff"
    with pytest.raises(ValueError):
        serde.header(-1)
    with pytest.raises(ValueError):
        serde.header(serde.MAX_SCHEMA_ID + 1)
