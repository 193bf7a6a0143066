"""Request-time features: a model's full input vector from the online store.

``model_vector(store, contract, keys)`` reads the latest vector of every view of the contract
for the given entity keys in one pipelined round trip (one ``HGETALL`` per view) and returns
the contract's inputs in contract order, typed (``long`` → int, ``double`` → float,
``boolean`` → bool, ``string`` → str)::

    {"model": "payment_fraud", "version": 1,
     "keys": {"card_id": "tok_…", "merchant_id": "mer_…"},
     "features": {"amount_usd_cents": 1250, "card_txn_count_10m": 3, …},   # contract order
     "as_of": {"payment_card.v1": "2026-…Z", "payment_merchant.v1": null},
     "staleness_s": {"payment_card.v1": 4.2, "payment_merchant.v1": null},
     "missing": ["payment_merchant.v1"]}

A feature is null when its view has no vector for the key (the view is then in ``missing``) or
the stored vector has no value for it (a null feature). ``event.*`` inputs are columns of the
triggering event, which the online store does not hold: the caller passes them (``event_values``,
query parameters of ``featurestream serve``); one not passed is null and in ``missing`` as
``event.<column>``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from common.features.columns import feature_kind
from common.features.definitions import FeatureView
from common.models.contract import EVENT, AvroType, ModelContract
from common.online_store import OnlineStore, StoredVector

_PARSE: dict[str, Callable[[str], Any]] = {
    "long": int,
    "double": float,
    "string": str,
    "boolean": lambda text: text == "true",
}
_AVRO_OF_KIND: dict[str, AvroType] = {
    "BIGINT": "long",
    "DOUBLE": "double",
    "STRING": "string",
    "BOOLEAN": "boolean",
}


def avro_type_of_kind(kind: str) -> AvroType:
    """The Avro type a feature of this SQL kind is served as."""
    return _AVRO_OF_KIND[kind]


class BadRequest(ValueError):
    """An entity key is missing, or a parameter is unknown or does not parse (HTTP 400)."""


def parse_value(text: str | None, avro_type: str) -> Any:
    """A stored (or query-string) value as its type; None stays None.

    Raises:
        ValueError: ``text`` is not a value of ``avro_type``.
    """
    if text is None:
        return None
    if avro_type == "boolean" and text not in ("true", "false"):
        raise ValueError(f"{text!r} is not true or false")
    return _PARSE[avro_type](text)


def _iso(millis: int) -> str:
    return datetime.fromtimestamp(millis / 1000, UTC).isoformat(timespec="milliseconds")


def stored_vector_json(view: FeatureView, vector: StoredVector) -> dict[str, Any]:
    """One stored vector as JSON: features typed by the view's definitions, in view order."""
    return {
        "view": view.name,
        "version": view.version,
        "key": vector.entity_key,
        "event_id": vector.event_id,
        "event_time": _iso(vector.event_time_ms),
        "features": {
            f.name: parse_value(vector.features.get(f.name), _AVRO_OF_KIND[feature_kind(view, f)])
            for f in view.output_features
        },
    }


@dataclass(frozen=True)
class _Plan:
    """What ``model_vector`` needs of a contract, worked out once per contract."""

    entity_keys: tuple[str, ...]
    event_inputs: frozenset[str]
    views: tuple[tuple[str, int, str, str], ...]
    """(name, version, entity key, qualified name) of each view."""
    inputs: tuple[tuple[str, str, str | None, str], ...]
    """(name, type, view name or None for the event, ref) of each input, in contract order."""


_PLANS: dict[int, tuple[ModelContract, _Plan]] = {}


def _plan(contract: ModelContract) -> _Plan:
    # By identity: hashing a frozen contract walks every view and feature (~50 µs a call).
    # The contract is kept with its plan, so its id cannot be reused by another object.
    cached = _PLANS.get(id(contract))
    if cached is None:
        plan = _Plan(
            entity_keys=tuple(contract.entity_keys),
            event_inputs=frozenset(i.name for i in contract.inputs if i.source_name == EVENT),
            views=tuple(
                (v.name, v.version, v.entity.key, v.qualified_name) for v in contract.views
            ),
            inputs=tuple(
                (i.name, i.type, None if i.source_name == EVENT else i.source_name, i.ref)
                for i in contract.inputs
            ),
        )
        cached = _PLANS[id(contract)] = (contract, plan)
    return cached[1]


def model_vector(
    store: OnlineStore,
    contract: ModelContract,
    keys: Mapping[str, str],
    event_values: Mapping[str, str] | None = None,
    now_ms: int | None = None,
) -> dict[str, Any]:
    """The contract's inputs for ``keys`` from the online store (see the module doc).

    Args:
        store: The online store.
        contract: Whose inputs to read.
        keys: A value for every entity key of the contract (``card_id``, ``merchant_id``).
        event_values: Values of the ``event.*`` inputs, as text (query parameters).
        now_ms: The clock for staleness (epoch millis); now if None.

    Raises:
        BadRequest: an entity key is missing or empty, an event value does not parse, or
            ``event_values`` names something that is not an event input.
    """
    plan = _plan(contract)
    absent = [k for k in plan.entity_keys if not keys.get(k)]
    if absent:
        raise BadRequest(f"model {contract.qualified_name} needs entity keys {absent}")
    event_values = event_values or {}
    unknown = sorted(set(event_values) - plan.event_inputs)
    if unknown:
        raise BadRequest(
            f"{unknown} are not event inputs of {contract.qualified_name} "
            f"(those are {sorted(plan.event_inputs)})"
        )
    stored = store.get_vectors([(name, version, keys[key]) for name, version, key, _ in plan.views])
    now_ms = time.time_ns() // 1_000_000 if now_ms is None else now_ms
    by_view = {view[0]: vector for view, vector in zip(plan.views, stored, strict=True)}
    features: dict[str, Any] = {}
    missing: list[str] = []
    for name, avro_type, view_name, ref in plan.inputs:
        if view_name is None:
            text = event_values.get(name)
            if text is None:
                missing.append(ref)
            try:
                features[name] = parse_value(text, avro_type)
            except ValueError as exc:
                raise BadRequest(f"{name}: {exc}") from exc
        else:
            vector = by_view[view_name]
            raw = vector.features.get(name) if vector else None
            features[name] = parse_value(raw, avro_type)
    as_of: dict[str, str | None] = {}
    staleness: dict[str, float | None] = {}
    for (*_, qualified), vector in zip(plan.views, stored, strict=True):
        as_of[qualified] = _iso(vector.event_time_ms) if vector else None
        staleness[qualified] = (now_ms - vector.event_time_ms) / 1000 if vector else None
        if vector is None:
            missing.append(qualified)
    return {
        "model": contract.name,
        "version": contract.version,
        "keys": {k: keys[k] for k in plan.entity_keys},
        "features": features,
        "as_of": as_of,
        "staleness_s": staleness,
        "missing": missing,
    }
