"""The online store: the latest feature vector per entity and view, in Redis.

Key ``fs:<view>:v<N>:<entity key>``, a hash of the features plus ``event_time`` (epoch millis),
``event_id`` and ``version``. Writes go through ``online_store.lua``: newer event time wins, ties
go to the larger event id, so the stored vector does not depend on write order or replays.

Next to it, ``fse:<view>:v<N>:<entity key>``: the key's recent events (a sorted set by event time
of ``["<event id>", input values...]``, written through ``online_events.lua``), from which
readers evaluate the features at the time of the read (``common.features.read_time``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import redis

from common.config import StackConfig

WRITE_SCRIPT = Path(__file__).with_name("online_store.lua")
EVENTS_SCRIPT = Path(__file__).with_name("online_events.lua")
_RESERVED = frozenset({"event_time", "event_id", "version"})


def redis_key(view: str, version: int, entity_key: str) -> str:
    """``fs:<view>:v<N>:<entity key>``."""
    return f"fs:{view}:v{version}:{entity_key}"


def events_key(view: str, version: int, entity_key: str) -> str:
    """``fse:<view>:v<N>:<entity key>``: the key's event log (a sorted set by event time)."""
    return f"fse:{view}:v{version}:{entity_key}"


@dataclass(frozen=True)
class StoredVector:
    """A feature vector as stored: raw string values, absent features are null."""

    entity_key: str
    event_time_ms: int
    event_id: str
    version: int
    features: Mapping[str, str]


class OnlineStore:
    """Reads and (for tools and tests) writes feature vectors.

    Args:
        client: A redis-py client (``OnlineStore.connect(config)`` makes one for the stack).
    """

    def __init__(self, client: redis.Redis) -> None:
        self._client = client

    @classmethod
    def connect(cls, config: StackConfig) -> OnlineStore:
        """A store on the stack's Redis."""
        return cls(redis.Redis.from_url(config.redis_url, decode_responses=True))

    @cached_property
    def _write(self):  # type: ignore[no-untyped-def]  # redis-py's Script is untyped
        return self._client.register_script(WRITE_SCRIPT.read_text(encoding="utf-8"))

    def write(
        self,
        view: str,
        version: int,
        entity_key: str,
        event_time_ms: int,
        event_id: str,
        features: Mapping[str, object],
        ttl_ms: int = 0,
    ) -> bool:
        """Write one vector unless a newer one is stored; True when written."""
        bad = _RESERVED.intersection(features)
        if bad:
            raise ValueError(f"feature names {sorted(bad)} are reserved")
        pairs: list[object] = []
        for name, value in features.items():
            if value is not None:
                pairs += [name, value]
        args = [event_time_ms, event_id, version, ttl_ms, *pairs]
        written = self._write(keys=[redis_key(view, version, entity_key)], args=args)
        return bool(written)

    @cached_property
    def _write_event(self):  # type: ignore[no-untyped-def]  # redis-py's Script is untyped
        return self._client.register_script(EVENTS_SCRIPT.read_text(encoding="utf-8"))

    def write_event(
        self,
        view: str,
        version: int,
        entity_key: str,
        event_time_ms: int,
        event_id: str,
        values: Sequence[object],
        keep_ms: int,
        ttl_ms: int = 0,
    ) -> bool:
        """Add one event to the key's log as the jobs do (same script); False when it is older
        than the newest logged event minus ``keep_ms``."""
        member = json.dumps([event_id, *map(_json_value, values)], separators=(",", ":"))
        args = [event_time_ms, member, keep_ms, ttl_ms]
        return bool(self._write_event(keys=[events_key(view, version, entity_key)], args=args))

    def get(self, view: str, version: int, entity_key: str) -> StoredVector | None:
        """The stored vector of one entity, or None."""
        return self.get_many(view, version, [entity_key])[entity_key]

    def get_many(
        self, view: str, version: int, entity_keys: Sequence[str] | Iterable[str]
    ) -> dict[str, StoredVector | None]:
        """Stored vectors of several entities in one round trip."""
        keys = list(entity_keys)
        vectors = self.get_vectors([(view, version, key) for key in keys])
        return dict(zip(keys, vectors, strict=True))

    def get_vectors(self, wanted: Sequence[tuple[str, int, str]]) -> list[StoredVector | None]:
        """The stored vector of each ``(view, version, entity key)``, in one round trip."""
        pipeline = self._client.pipeline(transaction=False)
        for view, version, key in wanted:
            pipeline.hgetall(redis_key(view, version, key))
        return [
            _vector(key, raw) for (_, _, key), raw in zip(wanted, pipeline.execute(), strict=True)
        ]

    def get_event_logs(
        self, wanted: Sequence[tuple[str, int, str]]
    ) -> list[list[tuple[str, float]]]:
        """The event log (``fse:<view>:v<N>:<key>``: ``(member, event time)`` pairs, oldest
        first) of each ``(view, version, entity key)``, in one round trip; see
        ``common.features.read_time``."""
        pipeline = self._client.pipeline(transaction=False)
        for view, version, key in wanted:
            pipeline.zrange(events_key(view, version, key), 0, -1, withscores=True)
        return [list(found) for found in pipeline.execute()]

    def get_tiles(self, wanted: Sequence[tuple[str, str]]) -> list[dict[str, str]]:
        """The tile hash (decision 76) of each ``(tiles prefix, entity key)``, in one round
        trip; empty for a key without one; see ``common.features.read_time``."""
        pipeline = self._client.pipeline(transaction=False)
        for prefix, key in wanted:
            pipeline.hgetall(prefix + key)
        return list(pipeline.execute())

    def sample(
        self, view: str, version: int, fields: Sequence[str], limit: int
    ) -> list[list[str | None]]:
        """``fields`` of up to ``limit`` stored vectors of a view (Redis' SCAN order: a spread
        over the keyspace, not the newest), one list per vector."""
        keys = []
        for key in self._client.scan_iter(match=f"{redis_key(view, version, '')}*", count=1000):
            keys.append(key)
            if len(keys) >= limit:
                break
        pipeline = self._client.pipeline(transaction=False)
        for key in keys:
            pipeline.hmget(key, list(fields))
        return list(pipeline.execute())

    def ping(self) -> bool:
        """Whether Redis answers."""
        return bool(self._client.ping())


def _json_value(value: object) -> object:
    """Non-finite doubles as the strings the jobs write (JSON has no NaN)."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    return value


def _vector(entity_key: str, raw: Mapping[str, str]) -> StoredVector | None:
    if not raw:
        return None
    return StoredVector(
        entity_key=entity_key,
        event_time_ms=int(raw["event_time"]),
        event_id=raw["event_id"],
        version=int(raw["version"]),
        features={k: v for k, v in raw.items() if k not in _RESERVED},
    )
