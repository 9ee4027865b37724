"""Forwarding a chat request to the OpenAI-compatible Mantle endpoint with the function's own role.

Requests are signed with SigV4 for the service `bedrock-mantle` (`rft.mantle.mantle_client(...,
auth="sigv4")`, the openai SDK's Bedrock provider) from the Lambda role's credentials: no API key
is minted, stored or passed, so the role needs `bedrock-mantle:CreateInference` and not
`CallWithBearerToken`. The SDK retries
nothing here (`max_retries=0`): a throttled call returns 429 with Retry-After at once, and the
caller's own SDK does the waiting, inside its own time budget rather than the gateway's 29 s.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from lambda_gateway import errors
from lambda_gateway.chat import ChatRequest
from lambda_gateway.errors import GatewayError

MantleClientFactory = Callable[[str, str | None], Any]  # (region, base_url) -> openai.OpenAI


def default_client_factory(session: Any, timeout_seconds: float) -> MantleClientFactory:
    """Clients signed with ``session``'s credentials (the Lambda role), one per endpoint."""

    def create(region: str, base_url: str | None) -> Any:
        from rft.mantle import mantle_client

        return mantle_client(
            region, session=session, auth="sigv4", base_url=base_url, timeout=timeout_seconds, max_retries=0
        )

    return create


def complete(client: Any, request: ChatRequest, model_id: str) -> dict[str, Any]:
    """The upstream chat completion as JSON (passed through as Mantle wrote it)."""
    import openai

    try:
        raw = client.chat.completions.with_raw_response.create(
            model=model_id,
            messages=[m.to_openai() for m in request.messages],
            **request.openai_parameters(),
        )
    except openai.APIStatusError as exc:
        raise translate_status_error(exc.status_code, exc.body, exc.response.headers) from exc
    except openai.APITimeoutError as exc:
        raise errors.upstream_failed("Mantle did not answer in time", code="upstream_timeout") from exc
    except openai.APIConnectionError as exc:
        raise errors.upstream_failed("Mantle could not be reached", code="upstream_unreachable") from exc
    except openai.OpenAIError as exc:
        raise errors.upstream_failed(f"Mantle call failed ({type(exc).__name__})") from exc
    try:
        data = json.loads(raw.text)
    except json.JSONDecodeError as exc:
        raise errors.upstream_failed("Mantle answered something that is not JSON") from exc
    if not isinstance(data, dict) or not isinstance(data.get("choices"), list):
        raise errors.upstream_failed("Mantle answered a JSON document that is not a chat completion")
    return data


def translate_status_error(status: int, body: Any, headers: Any) -> GatewayError:
    message = f"HTTP {status}: {_upstream_message(body) or 'no message'}"
    if status == 429:
        retry_after = errors.parse_retry_after(headers.get("retry-after"))
        if retry_after is None and headers.get("retry-after-ms") is not None:
            milliseconds = errors.parse_retry_after(headers.get("retry-after-ms"))
            retry_after = max(1, (milliseconds or 1000) // 1000)
        return errors.throttled(retry_after, "Mantle rate limit")
    if status in (400, 422):
        return errors.upstream_invalid("Mantle", message)
    if status == 404:
        # The registry names a model Mantle does not know: the record is stale, not the request.
        return errors.upstream_failed(
            "Mantle does not know the registered model",
            code="upstream_model_not_found",
            upstream_detail=message,
        )
    return errors.upstream_failed(f"Mantle answered HTTP {status}", upstream_detail=message)


def _upstream_message(body: Any) -> str | None:
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and isinstance(inner.get("message"), str):
            return inner["message"]
        if isinstance(body.get("message"), str):
            return body["message"]
    return body if isinstance(body, str) and body else None
