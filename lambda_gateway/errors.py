"""OpenAI-style errors: `{"error": {"message", "type", "param", "code"}}` with the matching HTTP status.

The openai SDK raises its typed exceptions from the status (400 BadRequestError, 404 NotFoundError,
429 RateLimitError, 5xx InternalServerError) and retries 429 and 5xx itself, honouring
`Retry-After`; so the status is the contract and the body is for people.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from rft.quoting import QUOTE_CHARS, quote

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
    # What the model's service said: logged with the request id, never sent to the caller (it may
    # name ARNs, account ids or internal model ids).
    upstream_detail: str | None = None

    def __post_init__(self) -> None:
        super().__init__(self.message)

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}


def bad_request(
    message: str, *, param: str | None = None, code: str | None = "invalid_value"
) -> GatewayError:
    return GatewayError(400, message, param=param, code=code)


def unsupported(param: str, detail: str) -> GatewayError:
    param = _short(param)  # a parameter's name is the caller's: a 1 MB key is not echoed back
    return GatewayError(
        400,
        f"Unsupported parameter: '{param}' {detail}",
        param=param,
        code="unsupported_parameter",
    )


def model_not_found(model: str, reason: str = "") -> GatewayError:
    return GatewayError(
        404,
        f"The model {quote(model)} does not exist in this environment{reason}. "
        "GET /v1/models lists the models and aliases you can call.",
        param="model",
        code="model_not_found",
    )


def _short(text: str, limit: int = QUOTE_CHARS) -> str:
    return text if len(text) <= limit else f"{text[:limit]}…"


def throttled(retry_after: int | None, detail: str) -> GatewayError:
    return _retry_later(
        429, f"is receiving too many requests ({detail})", RATE_LIMIT, "rate_limit_exceeded", retry_after
    )


def unavailable(retry_after: int | None, detail: str) -> GatewayError:
    """The model's service is briefly unable to answer: 503, which the openai SDK retries."""
    return _retry_later(
        503, f"is temporarily unavailable ({detail})", SERVER, "model_unavailable", retry_after
    )


def _retry_later(status: int, what: str, error_type: str, code: str, retry_after: int | None) -> GatewayError:
    """An error the caller's SDK retries after `Retry-After`: the service's delay, else ours."""
    return GatewayError(
        status,
        f"The model {what}; retry after the delay in Retry-After.",
        type=error_type,
        code=code,
        retry_after=retry_after if retry_after is not None else DEFAULT_RETRY_AFTER_SECONDS,
    )


def upstream_invalid(service: str, upstream_detail: str | None) -> GatewayError:
    return GatewayError(
        400,
        f"The model's service ({service}) rejected the request as invalid; check the messages and "
        "parameters (the gateway log holds its answer under this request's id).",
        code="upstream_validation",
        upstream_detail=upstream_detail,
    )


def upstream_failed(
    detail: str, *, code: str = "upstream_error", upstream_detail: str | None = None
) -> GatewayError:
    return GatewayError(
        502,
        f"The model's service failed to answer: {detail}",
        type=UPSTREAM,
        code=code,
        upstream_detail=upstream_detail,
    )


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
