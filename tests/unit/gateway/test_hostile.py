"""The gateway against hostile requests: a 4xx naming the problem (never a 500, which feeds the 5xx
alarm and makes SDKs retry), bounded work and memory, and nothing of the caller's input or the
upstream's answer echoed at length."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lambda_gateway.registry import CachedResolver
from rft.errors import UnknownModelError
from tests.unit.gateway.conftest import body_of, chat_event, record

USER = {"role": "user", "content": "What is 9 + 9?"}


def status_and_error(response: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    return response["statusCode"], body_of(response)["error"]


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        ('{"model": "prod", "messages": [], "n": ' + "1" * 5000 + "}", "5,000-digit integer"),
        ("[" * 100_000 + "]" * 100_000, "nested deeper"),
        ('{"model": "prod", "user": ' + "[" * 500 + "]" * 500 + "}", "nested deeper"),
        ('{"model": "prod", "model": "canary", "messages": []}', "appears twice"),
        ('{"model": "prod", "temperature": 1e400}', "too large"),
        ('{"model": "\\udc80"}', "lone surrogate"),
    ],
)
def test_bodies_that_crashed_or_were_read_leniently_are_400(offline, raw, fragment):
    status, error = status_and_error(offline.handle(chat_event(raw, raw=True)))
    assert (status, error["code"]) == (400, "invalid_json")
    assert fragment in error["message"]


@pytest.mark.parametrize("role", [["user"], {"a": 1}, [[[]]]])
def test_an_unhashable_role_is_400_not_500(offline, role):
    status, error = status_and_error(offline.chat(model="prod", messages=[{"role": role, "content": "hi"}]))
    assert (status, error["param"]) == (400, "messages[0].role")


@pytest.mark.parametrize("name", ["temperature", "top_p", "max_tokens"])
def test_a_deeply_nested_parameter_value_is_400_and_not_quoted(offline, name):
    value: Any = 1
    for _ in range(60):
        value = [value]
    status, error = status_and_error(offline.chat(model="prod", messages=[USER], **{name: value}))
    assert status == 400 and "a list" in error["message"]


def test_only_an_assistant_message_is_400(offline):
    status, error = status_and_error(
        offline.chat(model="prod", messages=[{"role": "assistant", "content": "x"}])
    )
    assert (status, error["param"]) == (400, "messages")


@pytest.mark.parametrize(
    ("extra", "param"),
    [
        ({"name": "alice"}, "messages[0].name"),
        ({"cache_control": {"type": "ephemeral"}}, "messages[0].cache_control"),
        ({"tool_calls": [{"id": "1"}]}, "messages[0].tool_calls"),
    ],
)
def test_unknown_keys_inside_a_message_are_400_not_dropped(offline, extra, param):
    status, error = status_and_error(offline.chat(model="prod", messages=[{**USER, **extra}]))
    assert (status, error["param"], error["code"]) == (400, param, "unsupported_parameter")


def test_empty_extras_an_sdk_echoes_back_are_accepted(world):
    world.bedrock.add_response(
        "converse",
        {
            "output": {"message": {"role": "assistant", "content": [{"text": "ok"}]}},
            "stopReason": "end_turn",
            "usage": {"inputTokens": 1, "outputTokens": 1, "totalTokens": 2},
            "metrics": {"latencyMs": 1},
        },
    )
    echoed = {"role": "assistant", "content": "18", "refusal": None, "tool_calls": [], "name": None}
    response = world.chat(model="prod", messages=[USER, echoed, USER])
    assert response["statusCode"] == 200


def test_a_huge_unknown_parameter_name_is_not_echoed(offline):
    status, error = status_and_error(offline.chat(model="prod", messages=[USER], **{"p" * 1_000_000: 1}))
    assert status == 400
    assert len(json.dumps(error)) < 400


class CountingRegistry:
    environment = "staging"

    def __init__(self) -> None:
        self.resolves: list[str] = []

    def resolve(self, name: str):
        self.resolves.append(name)
        if name == "known":
            return record("known", "mantle")
        raise UnknownModelError(f"No model or alias named {name!r}.")

    def list_models(self):
        return []

    def list_aliases(self):
        return {}


@pytest.mark.parametrize("model", ["m" * 1_000_000, "bad/name", "prod\n", "x" * 64, "-x", "a--b"])
def test_a_name_no_model_can_have_is_404_before_any_lookup_and_quoted_short(offline, model):
    status, error = status_and_error(offline.chat(model=model, messages=[USER]))
    assert (status, error["code"]) == (404, "model_not_found")
    assert len(error["message"]) < 250


def test_the_resolver_cache_is_bounded_and_least_recently_used_goes_first():
    registry = CountingRegistry()
    resolver = CachedResolver(
        registry, ttl_seconds=60, unknown_ttl_seconds=5, clock=lambda: 0.0, max_entries=8
    )
    resolver.resolve("known")
    for i in range(1000):
        with pytest.raises(UnknownModelError):
            resolver.resolve(f"ghost-{i}")
        resolver.resolve("known")  # kept: used again and again
    assert len(resolver._entries) == 8
    assert registry.resolves.count("known") == 1


def test_unknown_names_are_remembered_only_briefly():
    now = [0.0]
    registry = CountingRegistry()
    resolver = CachedResolver(registry, ttl_seconds=60, unknown_ttl_seconds=5, clock=lambda: now[0])
    for moment in (0.0, 4.0, 6.0):
        now[0] = moment
        with pytest.raises(UnknownModelError):
            resolver.resolve("ghost")
    assert registry.resolves == ["ghost", "ghost"]


_JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=12), children, max_size=3)
    ),
    max_leaves=10,
)
_KEYS = st.sampled_from(
    [
        "model",
        "messages",
        "temperature",
        "top_p",
        "max_tokens",
        "max_completion_tokens",
        "stop",
        "n",
        "user",
        "x",
    ]
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.dictionaries(_KEYS, _JSONISH, max_size=6),
    st.lists(st.dictionaries(st.sampled_from(["role", "content", "name", "extra"]), _JSONISH), max_size=3),
)
def test_any_body_is_a_4xx_answer_never_a_500(offline, body, messages):
    body.setdefault("model", "prod\n")  # never a valid name: the offline gateway has no registry
    if messages:
        body["messages"] = messages
    response = offline.handle(chat_event(body))
    assert 400 <= response["statusCode"] < 500, body_of(response)
