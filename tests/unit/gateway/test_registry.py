"""The gateway's registry cache: SSM is read once per name per TTL, unknown names for less."""

from __future__ import annotations

import pytest

from lambda_gateway.registry import CachedResolver
from rft.errors import UnknownModelError
from tests.unit.gateway.conftest import record


class CountingRegistry:
    environment = "staging"

    def __init__(self) -> None:
        self.records = {"math-nova": record("math-nova", "bedrock")}
        self.resolves: list[str] = []
        self.listings = 0

    def resolve(self, model_or_alias):
        self.resolves.append(model_or_alias)
        if model_or_alias not in self.records:
            raise UnknownModelError(f"No model or alias named {model_or_alias!r}.")
        return self.records[model_or_alias]

    def list_models(self):
        self.listings += 1
        return list(self.records.values())

    def list_aliases(self):
        return {}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_resolved_name_is_read_once_per_ttl():
    registry, clock = CountingRegistry(), Clock()
    resolver = CachedResolver(registry, ttl_seconds=30, clock=clock)
    assert resolver.resolve("math-nova").record.name == "math-nova"
    clock.now += 29
    resolver.resolve("math-nova")
    assert registry.resolves == ["math-nova"]
    clock.now += 2
    resolver.resolve("math-nova")
    assert registry.resolves == ["math-nova", "math-nova"]


def test_an_unknown_name_is_remembered_briefly_so_a_new_model_becomes_callable_soon():
    registry, clock = CountingRegistry(), Clock()
    resolver = CachedResolver(registry, ttl_seconds=30, unknown_ttl_seconds=5, clock=clock)
    for _ in range(3):
        with pytest.raises(UnknownModelError):
            resolver.resolve("math-new")
    assert registry.resolves == ["math-new"]
    registry.records["math-new"] = record("math-new", "mantle")
    clock.now += 6
    assert resolver.resolve("math-new").record.provider == "mantle"


def test_the_listing_is_cached_for_the_ttl():
    registry, clock = CountingRegistry(), Clock()
    resolver = CachedResolver(registry, ttl_seconds=30, clock=clock)
    resolver.listing()
    resolver.listing()
    assert registry.listings == 1
    clock.now += 31
    resolver.listing()
    assert registry.listings == 2


def test_resolved_says_whether_an_alias_was_used():
    registry = CountingRegistry()
    registry.records["prod"] = registry.records["math-nova"]
    resolver = CachedResolver(registry)
    assert resolver.resolve("prod").via_alias
    assert not resolver.resolve("math-nova").via_alias
