"""OpenAI chat completions <-> Bedrock Converse, for models served by a custom model deployment.

Request: system and developer messages become Converse `system` blocks (in order; Converse has no
system turn inside the conversation), user and assistant messages become `messages` (consecutive
messages of one role merge into one turn, each text part its own block, because Converse wants
turns to alternate), `max_tokens`/`max_completion_tokens` -> `inferenceConfig.maxTokens`,
`temperature`, `top_p` -> `topP`, `stop` (string or list) -> `stopSequences`.
Response: the text blocks of the output message joined, `stopReason` -> `finish_reason`,
`usage.inputTokens/outputTokens/totalTokens` -> `prompt_tokens/completion_tokens/total_tokens`.
"""

from __future__ import annotations

from typing import Any

from lambda_gateway import errors
from lambda_gateway.chat import ChatRequest
from lambda_gateway.errors import GatewayError
from rft.converse import converse_messages

# Converse stopReason -> OpenAI finish_reason. Anything new reads as "stop" (the model ended).
FINISH_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "guardrail_intervened": "content_filter",
    "content_filtered": "content_filter",
    "tool_use": "tool_calls",
}

# Converse's error codes (its error shapes in botocore's bedrock-runtime model; a contract test
# keeps every name here among them) by what the caller should do. Both retryable kinds answer with
# Retry-After, so the openai SDK backs off and retries by itself: throttling and a model still
# loading (ModelNotReadyException is HTTP 429 in the model) as 429, a service briefly down as 503.
THROTTLING_CODES = frozenset({"ThrottlingException", "ModelNotReadyException"})
UNAVAILABLE_CODES = frozenset({"ServiceUnavailableException"})
VALIDATION_CODES = frozenset({"ValidationException"})
TIMEOUT_CODES = frozenset({"ModelTimeoutException"})


def converse_request(request: ChatRequest, model_id: str) -> dict[str, Any]:
    system, turns = converse_messages((message.role, message.parts) for message in request.messages)
    inference: dict[str, Any] = {}
    if request.max_tokens is not None:
        inference["maxTokens"] = request.max_tokens
    if request.temperature is not None:
        inference["temperature"] = float(request.temperature)
    if request.top_p is not None:
        inference["topP"] = float(request.top_p)
    if request.stop:
        inference["stopSequences"] = list(request.stop)
    kwargs: dict[str, Any] = {"modelId": model_id, "messages": turns}
    if system:
        kwargs["system"] = system
    if inference:
        kwargs["inferenceConfig"] = inference
    return kwargs


def chat_completion(
    response: dict[str, Any], *, model: str, completion_id: str, created: int
) -> dict[str, Any]:
    content = response.get("output", {}).get("message", {}).get("content", [])
    # Reasoning, tool-use and other non-text blocks have no place in a chat message's content.
    text = "".join(block["text"] for block in content if isinstance(block.get("text"), str))
    usage = response.get("usage", {})
    prompt_tokens = int(usage.get("inputTokens", 0))
    completion_tokens = int(usage.get("outputTokens", 0))
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text, "refusal": None},
                "finish_reason": FINISH_REASONS.get(response.get("stopReason", ""), "stop"),
                "logprobs": None,
            }
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": int(usage.get("totalTokens", prompt_tokens + completion_tokens)),
        },
    }


def translate_client_error(code: str, message: str, headers: dict[str, str]) -> GatewayError:
    """A bedrock-runtime error as the caller should see it: our own words and the error code; the
    service's message (which may name ARNs or account ids) goes to the log only."""
    detail = f"{code}: {message}"
    if code in THROTTLING_CODES:
        return errors.throttled(errors.parse_retry_after(headers.get("retry-after")), f"Bedrock {code}")
    if code in UNAVAILABLE_CODES:
        return errors.unavailable(errors.parse_retry_after(headers.get("retry-after")), f"Bedrock {code}")
    if code in VALIDATION_CODES:
        return errors.upstream_invalid("Bedrock", detail)
    if code in TIMEOUT_CODES:
        return errors.upstream_failed(f"Bedrock {code}", code="upstream_timeout", upstream_detail=detail)
    return errors.upstream_failed(f"Bedrock {code or 'error'}", upstream_detail=detail)
