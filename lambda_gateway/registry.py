"""What a request's `model` means, from the environment's registry (`rft.registry`), cached.

Every chat request resolves its model, and SSM's GetParameter throughput is an account-wide quota
shared with the workflow and the CLI; so answers are kept for `ttl_seconds` in the warm Lambda
(unknown names for less, so a model published a moment ago becomes callable quickly). An alias
move therefore reaches every warm gateway instance within `ttl_seconds`.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from rft.errors import UnknownModelError
from rft.records import ModelRecord

DEFAULT_TTL_SECONDS = 30.0
UNKNOWN_TTL_SECONDS = 5.0
# Names held at once. Every caller can send any name, so the cache is bounded: the least recently
# used entry goes first (an environment has tens of models and aliases, not hundreds).
MAX_CACHED_NAMES = 256
OWNER = "rft-stack"


class Registry(Protocol):
    """The part of `rft.registry.ModelRegistry` the gateway uses."""

    environment: str

    def resolve(self, model_or_alias: str) -> ModelRecord: ...

    def list_models(self) -> list[ModelRecord]: ...

    def list_aliases(self) -> dict[str, Any]: ...  # alias -> AliasEntry (`.model`, `.at`)


@dataclass(frozen=True)
class Resolved:
    requested: str  # what the caller sent: an alias or a model name
    record: ModelRecord

    @property
    def via_alias(self) -> bool:
        return self.requested != self.record.name


class CachedResolver:
    def __init__(
        self,
        registry: Registry,
        *,
        ttl_seconds: float = DEFAULT_TTL_SECONDS,
        unknown_ttl_seconds: float = UNKNOWN_TTL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        max_entries: int = MAX_CACHED_NAMES,
    ) -> None:
        self._registry = registry
        self._ttl = ttl_seconds
        self._unknown_ttl = min(unknown_ttl_seconds, ttl_seconds)
        self._clock = clock
        self._lock = threading.Lock()
        self._max_entries = max_entries
        self._entries: OrderedDict[str, tuple[float, ModelRecord | UnknownModelError]] = OrderedDict()
        self._listing: tuple[float, list[dict[str, Any]]] | None = None

    @property
    def environment(self) -> str:
        return self._registry.environment

    def resolve(self, model: str) -> Resolved:
        """Alias first, then model name; raises UnknownModelError."""
        now = self._clock()
        with self._lock:
            cached = self._entries.get(model)
            if cached is not None:
                self._entries.move_to_end(model)
        if cached is None or cached[0] <= now:
            try:
                value: ModelRecord | UnknownModelError = self._registry.resolve(model)
                expires = now + self._ttl
            except UnknownModelError as exc:
                value, expires = exc, now + self._unknown_ttl
            self._remember(model, expires, value)
        else:
            value = cached[1]
        if isinstance(value, UnknownModelError):
            raise value
        return Resolved(requested=model, record=value)

    def _remember(self, model: str, expires: float, value: ModelRecord | UnknownModelError) -> None:
        with self._lock:
            self._entries[model] = (expires, value)
            self._entries.move_to_end(model)
            while len(self._entries) > self._max_entries:
                self._entries.popitem(last=False)

    def listing(self) -> list[dict[str, Any]]:
        """`GET /v1/models` entries: every callable model, and every alias that points at one."""
        now = self._clock()
        with self._lock:
            if self._listing is not None and self._listing[0] > now:
                return self._listing[1]
        records = {r.name: r for r in self._registry.list_models() if r.callable}
        data = [_model_entry(record) for record in records.values()]
        for alias, entry in self._registry.list_aliases().items():
            target = records.get(entry.model)
            if target is not None:
                data.append(_alias_entry(alias, entry, target))
        data.sort(key=lambda item: item["id"])
        with self._lock:
            self._listing = (now + self._ttl, data)
        return data


def _model_entry(record: ModelRecord) -> dict[str, Any]:
    return {
        "id": record.name,
        "object": "model",
        "created": _epoch(record.published_at or record.completed_at),
        "owned_by": OWNER,
        "rft": {
            "kind": "model",
            "provider": record.provider,
            "base_model": record.base_model,
            "reward": record.reward,
        },
    }


def _alias_entry(alias: str, entry: Any, target: ModelRecord) -> dict[str, Any]:
    return {
        "id": alias,
        "object": "model",
        "created": _epoch(getattr(entry, "at", None)),
        "owned_by": OWNER,
        "rft": {
            "kind": "alias",
            "model": target.name,
            "provider": target.provider,
            "base_model": target.base_model,
        },
    }


def _epoch(iso: str | None) -> int:
    if not iso:
        return 0
    try:
        moment = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    except ValueError:
        return 0
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp())
