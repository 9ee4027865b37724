"""OpenAI-style errors: `{"error": {"message", "type", "param", "code"}}` with the matching HTTP status.

The openai SDK raises its typed exceptions from the status (400 BadRequestError, 404 NotFoundError,
429 RateLimitError, 5xx InternalServerError) and retries 429 and 5xx itself, honouring
`Retry-After`; so the status is the contract and the body is for people.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

INVALID_REQUEST = "invalid_request_error"
RATE_LIMIT = "rate_limit_error"
UPSTREAM = "upstream_error"
SERVER = "server_error"

# When the model's service asks to slow down without saying for how long.
DEFAULT_RETRY_AFTER_SECONDS = 2


@dataclass
class GatewayError(Exception):
    status: int
    message: str
    type: str = INVALID_REQUEST
    param: str | None = None
    code: str | None = None
    retry_after: int | None = None

    def __post_init__(self) -> None:
        super().__init__(self.message)

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}


def bad_request(
    message: str, *, param: str | None = None, code: str | None = "invalid_value"
) -> GatewayError:
    return GatewayError(400, message, param=param, code=code)


def unsupported(param: str, detail: str) -> GatewayError:
    return GatewayError(
        400,
        f"Unsupported parameter: '{param}' {detail}",
        param=param,
        code="unsupported_parameter",
    )


def model_not_found(model: str, reason: str = "") -> GatewayError:
    return GatewayError(
        404,
        f"The model '{model}' does not exist in this environment{reason}. "
        "GET /v1/models lists the models and aliases you can call.",
        param="model",
        code="model_not_found",
    )


def throttled(retry_after: int | None, detail: str) -> GatewayError:
    return GatewayError(
        429,
        f"The model is receiving too many requests ({detail}); retry after the delay in Retry-After.",
        type=RATE_LIMIT,
        code="rate_limit_exceeded",
        retry_after=retry_after if retry_after is not None else DEFAULT_RETRY_AFTER_SECONDS,
    )


def upstream_invalid(message: str) -> GatewayError:
    return GatewayError(400, f"The model rejected the request: {message}", code="upstream_validation")


def upstream_failed(detail: str, *, code: str = "upstream_error") -> GatewayError:
    return GatewayError(502, f"The model's service failed to answer: {detail}", type=UPSTREAM, code=code)


def parse_retry_after(value: Any) -> int | None:
    """Whole seconds from a `Retry-After` (or `retry-after-ms`) value; None when absent or a date."""
    if value is None:
        return None
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return None
    return max(1, int(seconds + 0.999)) if seconds >= 0 else None


def response(error: GatewayError) -> dict[str, Any]:
    headers = {"content-type": "application/json"}
    if error.retry_after is not None:
        headers["retry-after"] = str(error.retry_after)
    return {"statusCode": error.status, "headers": headers, "body": json.dumps(error.body())}
