"""One OpenAI -> Converse translation for the gateway and the client."""

from __future__ import annotations

import pytest

from lambda_gateway.chat import parse_chat_request
from lambda_gateway.converse import converse_request
from rft.cli.inference import to_converse
from rft.converse import converse_messages, openai_to_converse


def test_system_and_developer_are_system_blocks_and_turns_alternate() -> None:
    system, turns = converse_messages(
        [
            ("system", ["Be brief."]),
            ("developer", ["Answer in French."]),
            ("user", ["a", "b"]),
            ("user", ["c"]),
        ]
    )
    assert system == [{"text": "Be brief."}, {"text": "Answer in French."}]
    assert turns == [{"role": "user", "content": [{"text": "a"}, {"text": "b"}, {"text": "c"}]}]


@pytest.mark.parametrize("role", ["system", "developer"])
def test_the_client_and_the_gateway_translate_a_prompt_alike(role: str) -> None:
    messages = [
        {"role": role, "content": "Be brief."},
        {"role": "user", "content": "Context."},
        {"role": "user", "content": [{"type": "text", "text": "Question?"}]},
        {"role": "assistant", "content": "Answer."},
        {"role": "user", "content": "Sure?"},
    ]
    client = to_converse(messages)
    gateway = converse_request(parse_chat_request({"model": "m", "messages": messages}), "model-id")
    assert client == (gateway["system"], gateway["messages"])
    assert client[0] == [{"text": "Be brief."}]
    assert [turn["role"] for turn in client[1]] == ["user", "assistant", "user"]


def test_a_dataset_message_without_a_role_is_the_users_and_parts_join() -> None:
    system, turns = openai_to_converse(
        [{"content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}]
    )
    assert system == [] and turns == [{"role": "user", "content": [{"text": "ab"}]}]
