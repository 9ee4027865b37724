"""Reading and checking an OpenAI chat-completions request: one contract for every model.

An alias may move from a Mantle model to a Bedrock deployment (or back) between two requests, so
the gateway accepts the same request whichever control plane serves it: the parameters both can
honour faithfully (text messages, temperature, top_p, max_tokens / max_completion_tokens, stop).
Anything else is refused with 400 naming the parameter, rather than silently dropped: a caller
that sends `tools` or `n=3` must not get an answer that looks right and is not. Parameters set to
their neutral value (`n: 1`, `logprobs: false`, `stream: false`, zero penalties) and `null` values
are accepted, since SDKs and frameworks send them by default.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from lambda_gateway.errors import GatewayError, bad_request, unsupported
from rft import strict_json
from rft.converse import CONVERSATION_ROLES, SYSTEM_ROLES
from rft.quoting import quote

MAX_STOP_SEQUENCES = 4  # OpenAI's limit
MESSAGE_KEYS = frozenset({"role", "content"})
# Keys an OpenAI message may carry that this gateway cannot honour (accepted only when empty).
MESSAGE_EXTRAS: Mapping[str, str] = {
    "tool_calls": "is not supported by this gateway: tool calling is not available",
    "function_call": "is not supported by this gateway: function calling is not available",
    "audio": "is not supported by this gateway: text output only",
    "refusal": "is not supported by this gateway: send the assistant's text as content",
    "name": "is not supported by this gateway: participant names are not forwarded",
}

# Accepted and forwarded (or, for `user`, accepted and not forwarded: it is an end-user id).
SUPPORTED = frozenset(
    {"model", "messages", "temperature", "top_p", "max_tokens", "max_completion_tokens", "stop", "user"}
)
# Accepted only at the value that changes nothing.
NEUTRAL_VALUES: Mapping[str, tuple[Any, str]] = {
    "stream": (
        False,
        "is not supported by this gateway: streaming responses are not available, send stream=false",
    ),
    "n": (1, "must be 1 with this gateway: one choice per request"),
    "logprobs": (False, "is not supported by this gateway: log probabilities are not available"),
    "presence_penalty": (0, "is not supported by this gateway: only 0 is accepted"),
    "frequency_penalty": (0, "is not supported by this gateway: only 0 is accepted"),
}
# Refused with a specific reason (anything else unknown gets the generic one).
UNSUPPORTED_REASONS: Mapping[str, str] = {
    "tools": "is not supported by this gateway: tool calling is not available",
    "tool_choice": "is not supported by this gateway: tool calling is not available",
    "parallel_tool_calls": "is not supported by this gateway: tool calling is not available",
    "functions": "is not supported by this gateway: function calling is not available",
    "function_call": "is not supported by this gateway: function calling is not available",
    "top_logprobs": "is not supported by this gateway: log probabilities are not available",
    "logit_bias": "is not supported by this gateway",
    "response_format": "is not supported by this gateway: structured output is not available",
    "seed": "is not supported by this gateway",
    "stream_options": "is not supported by this gateway: streaming responses are not available",
    "modalities": "is not supported by this gateway: text output only",
    "audio": "is not supported by this gateway: text output only",
}


@dataclass(frozen=True)
class Message:
    """One message: its role and its text, as one string or as a list of text parts."""

    role: str
    parts: tuple[str, ...]
    as_list: bool  # the caller sent a list of parts (kept so Mantle receives the same shape)

    @property
    def text(self) -> str:
        return "".join(self.parts)

    def to_openai(self) -> dict[str, Any]:
        role = "system" if self.role in SYSTEM_ROLES else self.role
        if self.as_list:
            return {"role": role, "content": [{"type": "text", "text": part} for part in self.parts]}
        return {"role": role, "content": self.parts[0]}


@dataclass(frozen=True)
class ChatRequest:
    model: str
    messages: tuple[Message, ...]
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    max_tokens_name: str = "max_tokens"  # which of the two names the caller used
    stop: tuple[str, ...] = ()
    stop_as_list: bool = False

    def openai_parameters(self) -> dict[str, Any]:
        """The request's parameters as the OpenAI API names them (for Mantle)."""
        params: dict[str, Any] = {}
        if self.temperature is not None:
            params["temperature"] = self.temperature
        if self.top_p is not None:
            params["top_p"] = self.top_p
        if self.max_tokens is not None:
            params[self.max_tokens_name] = self.max_tokens
        if self.stop:
            params["stop"] = list(self.stop) if self.stop_as_list else self.stop[0]
        return params


def read_body(event: Mapping[str, Any]) -> Any:
    """The JSON body of an API Gateway (payload 2.0) event; 400 when it is absent or not JSON."""
    raw = event.get("body")
    if raw is None or raw == "":
        raise bad_request("The request has no body: send a JSON object.", code="invalid_json")
    if event.get("isBase64Encoded"):
        try:
            raw = base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise bad_request("The request body is not valid base64.", code="invalid_json") from exc
    try:
        return strict_json.loads(raw)
    except strict_json.JsonInputError as exc:
        raise bad_request(
            f"We could not parse the JSON body of your request: {exc}. Send a JSON object.",
            code="invalid_json",
        ) from exc


def parse_chat_request(body: Any) -> ChatRequest:
    if not isinstance(body, dict):
        raise bad_request("The request body must be a JSON object.", code="invalid_json")
    present = {key: value for key, value in body.items() if value is not None}
    _refuse_unsupported(present)

    model = present.get("model")
    if not isinstance(model, str) or not model.strip():
        raise bad_request(
            "You must provide a model parameter: a model name or alias of this environment.",
            param="model",
            code="missing_required_parameter" if model is None else "invalid_type",
        )
    messages = _messages(present.get("messages"))
    max_tokens, max_tokens_name = _max_tokens(present)
    stop, stop_as_list = _stop(present.get("stop"))
    return ChatRequest(
        model=model,  # exactly as sent: "prod\n" is not "prod" (a name is matched whole)
        messages=messages,
        temperature=_number(present, "temperature", 0.0, 2.0),
        top_p=_number(present, "top_p", 0.0, 1.0),
        max_tokens=max_tokens,
        max_tokens_name=max_tokens_name,
        stop=stop,
        stop_as_list=stop_as_list,
    )


def _refuse_unsupported(present: Mapping[str, Any]) -> None:
    for name, value in present.items():
        if name in SUPPORTED:
            continue
        if name in NEUTRAL_VALUES:
            neutral, reason = NEUTRAL_VALUES[name]
            if _is_neutral(value, neutral):
                continue
            raise unsupported(name, reason)
        if name in ("tools", "functions") and value == []:
            continue
        raise unsupported(name, UNSUPPORTED_REASONS.get(name, "is not supported by this gateway"))


def _is_neutral(value: Any, neutral: Any) -> bool:
    if isinstance(neutral, bool):
        return value is neutral
    return not isinstance(value, bool) and isinstance(value, int | float) and value == neutral


def _messages(value: Any) -> tuple[Message, ...]:
    if value is None:
        raise bad_request(
            "You must provide messages: a non-empty list of chat messages.",
            param="messages",
            code="missing_required_parameter",
        )
    if not isinstance(value, list) or not value:
        raise bad_request("'messages' must be a non-empty list of chat messages.", param="messages")
    messages = tuple(_message(item, f"messages[{i}]") for i, item in enumerate(value))
    if not any(m.role == "user" for m in messages):
        # An assistant turn alone is nothing to answer (and Converse refuses a conversation that
        # does not start with the user).
        raise bad_request("'messages' must hold at least one user message.", param="messages")
    return messages


def _message(item: Any, where: str) -> Message:
    if not isinstance(item, dict):
        raise bad_request(f"'{where}' must be an object with 'role' and 'content'.", param=where)
    role = item.get("role")
    if role in ("tool", "function"):
        raise unsupported(
            f"{where}.role", f"'{role}' is not supported by this gateway: tool calling is not available"
        )
    # Type first: a list or an object is unhashable, and set membership would raise.
    if not isinstance(role, str) or role not in SYSTEM_ROLES | CONVERSATION_ROLES:
        raise bad_request(
            f"'{where}.role' must be one of system, developer, user, assistant; got {quote(role)}.",
            param=f"{where}.role",
        )
    _refuse_unknown_message_keys(item, where)
    content = item.get("content")
    if isinstance(content, str):
        return Message(role=role, parts=(content,), as_list=False)
    if isinstance(content, list) and content:
        return Message(
            role=role,
            parts=tuple(_text_part(p, f"{where}.content[{j}]") for j, p in enumerate(content)),
            as_list=True,
        )
    raise bad_request(
        f"'{where}.content' must be a string or a non-empty list of text parts.", param=f"{where}.content"
    )


def _refuse_unknown_message_keys(item: Mapping[str, Any], where: str) -> None:
    """A message carries role and content; any other key with a value is refused, not dropped.
    Empty values are accepted: an SDK echoing an assistant message back sends `refusal: null`."""
    for key, value in item.items():
        if key in MESSAGE_KEYS or value is None or (key in MESSAGE_EXTRAS and value in ([], "", False)):
            continue
        raise unsupported(f"{where}.{key}", MESSAGE_EXTRAS.get(key, "is not supported by this gateway"))


def _text_part(part: Any, where: str) -> str:
    if not isinstance(part, dict):
        raise bad_request(
            f'\'{where}\' must be an object such as {{"type": "text", "text": "..."}}.', param=where
        )
    kind = part.get("type")
    if kind != "text":
        raise unsupported(f"{where}.type", f"'{kind}' is not supported by this gateway: text content only")
    text = part.get("text")
    if not isinstance(text, str):
        raise bad_request(f"'{where}.text' must be a string.", param=f"{where}.text")
    return text


def _number(present: Mapping[str, Any], name: str, low: float, high: float) -> float | None:
    value = present.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise bad_request(f"'{name}' must be a number, got {quote(value)}.", param=name, code="invalid_type")
    if not low <= value <= high:
        raise bad_request(f"'{name}' must be between {low:g} and {high:g}, got {quote(value)}.", param=name)
    return value


def _max_tokens(present: Mapping[str, Any]) -> tuple[int | None, str]:
    given = {name: present[name] for name in ("max_completion_tokens", "max_tokens") if name in present}
    for name, value in given.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise bad_request(f"'{name}' must be a positive integer, got {quote(value)}.", param=name)
    if len(set(given.values())) > 1:
        raise bad_request(
            "'max_tokens' and 'max_completion_tokens' disagree: send only one of them.", param="max_tokens"
        )
    if not given:
        return None, "max_tokens"
    name = next(iter(given))
    return given[name], name


def _stop(value: Any) -> tuple[tuple[str, ...], bool]:
    if value is None:
        return (), False
    if isinstance(value, str):
        if not value:
            raise bad_request("'stop' must not be an empty string.", param="stop")
        return (value,), False
    if isinstance(value, list):
        if len(value) > MAX_STOP_SEQUENCES:
            raise bad_request(
                f"'stop' holds at most {MAX_STOP_SEQUENCES} sequences, got {len(value)}.", param="stop"
            )
        if not all(isinstance(s, str) and s for s in value):
            raise bad_request("'stop' must be a string or a list of non-empty strings.", param="stop")
        return tuple(value), True
    raise bad_request("'stop' must be a string or a list of strings.", param="stop", code="invalid_type")


__all__ = ["ChatRequest", "GatewayError", "Message", "parse_chat_request", "read_body"]
