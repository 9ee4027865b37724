"""OpenAI chat messages -> Bedrock Converse `system` and `messages`: one translation, used by the
gateway (`lambda_gateway/converse.py`) and the client (`rft chat`, `rft eval`, `rft reward test`).

Converse has no system turn: `system` and OpenAI's newer name for it, `developer`, become system
blocks. It wants user and assistant turns to alternate: consecutive messages of one role become
one turn, their text blocks in order.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

# `developer` is OpenAI's newer name for `system`; both become system instructions.
SYSTEM_ROLES = frozenset({"system", "developer"})
CONVERSATION_ROLES = frozenset({"user", "assistant"})

ConverseBlocks = list[dict[str, Any]]


def converse_messages(messages: Iterable[tuple[str, Sequence[str]]]) -> tuple[ConverseBlocks, ConverseBlocks]:
    """(role, text parts) in order -> (Converse system blocks, Converse turns)."""
    system: ConverseBlocks = []
    turns: ConverseBlocks = []
    for role, parts in messages:
        blocks = [{"text": part} for part in parts]
        if role in SYSTEM_ROLES:
            system.extend(blocks)
        elif turns and turns[-1]["role"] == role:
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": role, "content": blocks})
    return system, turns


def message_text(message: Mapping[str, Any]) -> str:
    """An OpenAI message's content as one string (a list of parts is joined; non-text parts add nothing)."""
    content = message.get("content")
    if isinstance(content, list):
        return "".join(str(part.get("text", "")) for part in content if isinstance(part, Mapping))
    return str(content or "")


def openai_to_converse(messages: Iterable[Mapping[str, Any]]) -> tuple[ConverseBlocks, ConverseBlocks]:
    """OpenAI-style message dicts (a dataset's prompt) -> (system blocks, turns); a message without a
    role is the user's, and each message is one text block."""
    return converse_messages((str(m.get("role") or "user"), [message_text(m)]) for m in messages)
