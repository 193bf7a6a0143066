"""Request-time features: a model's full input vector from the online store.

``model_vector(store, contract, keys)`` reads the event log of every view of the contract for
the given entity keys in one pipelined round trip (one ``ZRANGE`` per view), evaluates each view
at the read time ``T`` (now, or ``as_of_ms``; ``common.features.read_time``) and returns the
contract's inputs in contract order, typed (``long`` → int, ``double`` → float, ``boolean`` →
bool, ``string`` → str)::

    {"model": "payment_fraud", "version": 1,
     "keys": {"card_id": "tok_…", "merchant_id": "mer_…"},
     "features": {"amount_usd_cents": 1250, "card_txn_count_10m": 3, …},   # contract order
     "read_at": "2026-…Z",
     "as_of": {"payment_card.v1": "2026-…Z", "payment_merchant.v1": null},
     "staleness_s": {"payment_card.v1": 4.2, "payment_merchant.v1": null},
     "missing": ["payment_merchant.v1"], "too_early": []}

``as_of`` and ``staleness_s`` are the time and age of each key's last event ``<= T``. A view
whose log holds no event of the key is in ``missing``; its features are what an empty history
gives (counts 0, the rest null). A ``T`` too far before the key's newest event for the log to
answer exactly gives nulls and puts the view in ``too_early`` and ``missing``.

``at="last_event"`` reads the stored vectors instead (one ``HGETALL`` per view): the features as
of each key's last event, the response without ``read_at`` and ``too_early``.

``event.*`` inputs are columns of the triggering event, which the online store does not hold: the
caller passes them (``event_values``, query parameters of ``featurestream serve``); one not
passed is null and in ``missing`` as ``event.<column>``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from common.features.columns import feature_kind
from common.features.definitions import FeatureView
from common.features.read_time import (
    LoggedEvent,
    ReadTimeVector,
    evaluate,
    evaluate_tiles,
    parse_member,
    read_time_spec,
)
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


_SPECS: dict[int, tuple[FeatureView, dict[str, Any]]] = {}
LAST_EVENT = "last_event"
READ_TIME = "read_time"


def _spec(view: FeatureView) -> dict[str, Any]:
    # By identity, like _plan: the spec is compiled once per view object.
    cached = _SPECS.get(id(view))
    if cached is None:
        cached = _SPECS[id(view)] = (view, read_time_spec(view))
    return cached[1]


def read_at(
    store: OnlineStore, wanted: Sequence[tuple[FeatureView, str]], at_ms: int
) -> list[ReadTimeVector]:
    """Each ``(view, entity key)`` at ``at_ms``: read-time views from their event logs or tiles,
    the others from the stored vector (as of the key's last event), in one round trip. A log member
    that does not parse counts as absent (the jobs never write one)."""
    logged = [(v, key) for v, key in wanted if v.read_time and v.tile is None]
    tiled = [(v, key) for v, key in wanted if v.tile is not None]
    stored = [(v, key) for v, key in wanted if not v.read_time]
    logs = iter(store.get_event_logs([(v.name, v.version, key) for v, key in logged]))
    tiles = iter(store.get_tiles([(_spec(v)["tiles"]["prefix"], key) for v, key in tiled]))
    vectors = iter(store.get_vectors([(v.name, v.version, key) for v, key in stored]))
    results = []
    for view, _ in wanted:
        if view.tile is not None:
            results.append(evaluate_tiles(_spec(view), next(tiles), at_ms))
        elif view.read_time:
            results.append(_from_log(view, next(logs), at_ms))
        else:
            results.append(_from_vector(view, next(vectors), at_ms))
    return results


def _from_log(view: FeatureView, log: list[tuple[str, float]], at_ms: int) -> ReadTimeVector:
    spec = _spec(view)
    kinds = [i["kind"] for i in spec["inputs"]]
    events: list[LoggedEvent] = []
    for member, score in log:
        try:
            events.append(parse_member(member, score, kinds))
        except (ValueError, TypeError):
            continue
    return evaluate(spec, events, at_ms)


def _from_vector(view: FeatureView, vector: StoredVector | None, at_ms: int) -> ReadTimeVector:
    """A view without read-time features: its stored vector, typed."""
    read = ReadTimeVector(at_ms=at_ms, found=vector is not None)
    features: dict[str, Any] = {}
    for feature in view.output_features:
        text = vector.features.get(feature.name) if vector else None
        try:
            features[feature.name] = parse_value(text, _AVRO_OF_KIND[feature_kind(view, feature)])
        except ValueError:
            features[feature.name] = None  # as the server: unparseable is null
    read.features = features
    if vector is not None:
        read.last_event_ms, read.last_event_id = vector.event_time_ms, vector.event_id
    return read


def parse_time(text: str) -> int:
    """A read time as epoch millis: an integer, or ISO-8601 with a zone (``Z`` or an offset).

    Raises:
        BadRequest: anything else.
    """
    text = text.strip()
    if text.lstrip("-").isdigit():
        return int(text)
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError as exc:
        raise BadRequest(f"as_of {text!r} is neither epoch millis nor ISO-8601") from exc
    if parsed.tzinfo is None:
        raise BadRequest(f"as_of {text!r} has no time zone (add Z or +00:00)")
    return round(parsed.timestamp() * 1000)


def check_as_of(as_of_ms: int | None, now_ms: int) -> int:
    """The read time: ``as_of_ms``, or now when None.

    Raises:
        BadRequest: ``as_of_ms`` is later than now.
    """
    if as_of_ms is None:
        return now_ms
    if as_of_ms > now_ms:
        raise BadRequest(f"as_of {_iso(as_of_ms)} is later than now ({_iso(now_ms)})")
    return as_of_ms


def view_vector_json(
    view: FeatureView, key: str, read: ReadTimeVector, now_ms: int
) -> dict[str, Any]:
    """One key's features at a read time as JSON (``features get``, the server's view route):
    ``found`` when the log held events of the key and answered exactly; ``event_id`` and
    ``event_time`` of its latest event at or before the read time."""
    last = read.last_event_ms
    return {
        "view": view.name,
        "version": view.version,
        "key": key,
        "found": read.found and not read.too_early,
        "event_id": read.last_event_id,
        "event_time": None if last is None else _iso(last),
        "staleness_s": None if last is None else (now_ms - last) / 1000,
        "features": _typed(view, read.features),
        "too_early": [view.qualified_name] if read.too_early else [],
        "read_at": _iso(read.at_ms),
    }


def _typed(view: FeatureView, features: Mapping[str, Any]) -> dict[str, Any]:
    typed: dict[str, Any] = {}
    for feature in view.output_features:
        value = features.get(feature.name)
        if value is not None and feature_kind(view, feature) == "DOUBLE":
            value = float(value)
        typed[feature.name] = value
    return typed


@dataclass(frozen=True)
class _Plan:
    """What ``model_vector`` needs of a contract, worked out once per contract."""

    entity_keys: tuple[str, ...]
    event_inputs: frozenset[str]
    views: tuple[tuple[str, int, str, str], ...]
    """(name, version, entity key, qualified name) of each view."""
    definitions: tuple[FeatureView, ...]
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
            definitions=tuple(contract.views),
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
    as_of_ms: int | None = None,
    at: str = READ_TIME,
) -> dict[str, Any]:
    """The contract's inputs for ``keys`` from the online store (see the module doc).

    Args:
        store: The online store.
        contract: Whose inputs to read.
        keys: A value for every entity key of the contract (``card_id``, ``merchant_id``).
        event_values: Values of the ``event.*`` inputs, as text (query parameters).
        now_ms: The clock (epoch millis); now if None.
        as_of_ms: The read time; now if None.
        at: ``read_time`` or ``last_event`` (the stored vectors).

    Raises:
        BadRequest: an entity key is missing or empty, an event value does not parse,
            ``event_values`` names something that is not an event input, or ``as_of_ms`` is
            later than now.
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
    now_ms = time.time_ns() // 1_000_000 if now_ms is None else now_ms
    if at == LAST_EVENT:
        return _last_event_vector(store, contract, plan, keys, event_values, now_ms)
    if at != READ_TIME:
        raise BadRequest(f"at must be {READ_TIME} or {LAST_EVENT}, got {at!r}")
    at_ms = check_as_of(as_of_ms, now_ms)
    reads = read_at(store, [(v, keys[v.entity.key]) for v in plan.definitions], at_ms)
    by_view = {view[0]: read for view, read in zip(plan.views, reads, strict=True)}
    features, missing = _inputs(
        plan, event_values, lambda view, name: by_view[view].features.get(name)
    )
    as_of: dict[str, str | None] = {}
    staleness: dict[str, float | None] = {}
    too_early: list[str] = []
    for (*_, qualified), read in zip(plan.views, reads, strict=True):
        last = read.last_event_ms
        as_of[qualified] = None if last is None else _iso(last)
        staleness[qualified] = None if last is None else (now_ms - last) / 1000
        if read.too_early:
            too_early.append(qualified)
        if read.too_early or not read.found:
            missing.append(qualified)
    return {
        "model": contract.name,
        "version": contract.version,
        "keys": {k: keys[k] for k in plan.entity_keys},
        "features": features,
        "read_at": _iso(at_ms),
        "as_of": as_of,
        "staleness_s": staleness,
        "missing": missing,
        "too_early": too_early,
    }


def _inputs(
    plan: _Plan, event_values: Mapping[str, str], stored: Callable[[str, str], Any]
) -> tuple[dict[str, Any], list[str]]:
    """The contract's inputs, typed, and the missing event inputs; ``stored(view, name)`` gives
    a view feature's value (text or already typed)."""
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
            value = stored(view_name, name)
            if isinstance(value, str) and avro_type != "string":
                value = parse_value(value, avro_type)
            elif value is not None and avro_type == "double":
                value = float(value)
            features[name] = value
    return features, missing


def _last_event_vector(
    store: OnlineStore,
    contract: ModelContract,
    plan: _Plan,
    keys: Mapping[str, str],
    event_values: Mapping[str, str],
    now_ms: int,
) -> dict[str, Any]:
    """``model_vector`` over the stored vectors (each key's features at its last event)."""
    stored = store.get_vectors([(name, version, keys[key]) for name, version, key, _ in plan.views])
    by_view = {view[0]: vector for view, vector in zip(plan.views, stored, strict=True)}

    def value(view: str, name: str) -> str | None:
        vector = by_view[view]
        return None if vector is None else vector.features.get(name)

    features, missing = _inputs(plan, event_values, value)
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
