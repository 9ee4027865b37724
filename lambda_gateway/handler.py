"""The gateway Lambda: `POST /v1/chat/completions` and `GET /v1/models` behind an HTTP API.

A request's `model` is an alias or a model name of this environment (`rft.registry`): aliases win.
Mantle models are called through the OpenAI-compatible endpoint, Bedrock deployments through
Converse on the deployment ARN; the answer is an OpenAI chat completion either way, and every
failure an OpenAI-style error with its HTTP status (see `errors.py`).

`stream: true` is refused with 400: API Gateway HTTP APIs buffer a Lambda's whole response (Lambda
response streaming needs a function URL or a REST API), so a streamed answer cannot reach the
caller; a clear error beats a fake stream that arrives all at once.
"""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from lambda_gateway import converse, errors, mantle, metrics
from lambda_gateway.chat import ChatRequest, parse_chat_request, read_body
from lambda_gateway.errors import GatewayError
from lambda_gateway.registry import DEFAULT_TTL_SECONDS, CachedResolver, Resolved

CHAT_ROUTE = "POST /v1/chat/completions"
MODELS_ROUTE = "GET /v1/models"
# API Gateway ends an HTTP API integration after 29 s (its maximum), and the function is given
# the same; the model's service gets less, so a slow model is a 502 the caller can read.
DEFAULT_UPSTREAM_TIMEOUT_SECONDS = 25.0

BedrockClientFactory = Callable[[str], Any]  # region -> bedrock-runtime client


def _logger() -> Any:
    from aws_lambda_powertools import Logger

    return Logger(service=os.environ.get("POWERTOOLS_SERVICE_NAME", "rft-gateway"))


@dataclass
class Gateway:
    resolver: CachedResolver
    bedrock_client: BedrockClientFactory
    mantle_client: mantle.MantleClientFactory
    metrics_namespace: str = metrics.DEFAULT_NAMESPACE
    clock: Callable[[], float] = time.time
    logger: Any = field(default_factory=_logger)
    _clients: dict[tuple[str, ...], Any] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def handle(self, event: Mapping[str, Any]) -> dict[str, Any]:
        route = _route(event)
        context = _request_context(event)
        try:
            if route == CHAT_ROUTE:
                return self.chat_completions(event, context)
            if route == MODELS_ROUTE:
                return _json(200, {"object": "list", "data": self.resolver.listing()})
            raise GatewayError(404, f"Unknown route {route!r}.", code="unknown_route")
        except GatewayError as error:
            extra = {**context, "route": route, "status": error.status, "code": error.code}
            if error.upstream_detail:
                extra["upstream_detail"] = error.upstream_detail[:2000]
            self.logger.info("request refused", extra=extra)
            return errors.response(error)
        except Exception:
            self.logger.exception("gateway failure", extra={**context, "route": route})
            return errors.response(
                GatewayError(
                    500,
                    f"The gateway failed to handle the request (request id {context.get('request_id')}).",
                    type=errors.SERVER,
                    code="internal_error",
                )
            )

    def chat_completions(self, event: Mapping[str, Any], context: Mapping[str, Any]) -> dict[str, Any]:
        started = time.perf_counter()
        request = parse_chat_request(read_body(event))
        resolved = self._resolve(request.model)
        record = resolved.record
        figures = metrics.RequestFigures(model=record.name)
        upstream_started = time.perf_counter()
        try:
            if record.provider == "bedrock":
                completion = self._call_bedrock(request, record.model_id, record.region)
            elif record.provider == "mantle":
                completion = self._call_mantle(request, record.model_id, record.region, record.base_url)
            else:
                raise errors.upstream_failed(f"the registry names an unknown provider {record.provider!r}")
        except GatewayError as error:
            figures.status = error.status
            raise
        except Exception:
            figures.status = 500
            raise
        finally:
            figures.upstream_latency_ms = (time.perf_counter() - upstream_started) * 1000.0
            if figures.status != 200:
                figures.latency_ms = (time.perf_counter() - started) * 1000.0
                metrics.emit(figures, namespace=self.metrics_namespace)
        # The model that answered, by name (as OpenAI names the snapshot an alias resolved to).
        completion["model"] = record.name
        usage = completion.get("usage") or {}
        figures.prompt_tokens = int(usage.get("prompt_tokens") or 0)
        figures.completion_tokens = int(usage.get("completion_tokens") or 0)
        figures.latency_ms = (time.perf_counter() - started) * 1000.0
        metrics.emit(figures, namespace=self.metrics_namespace)
        self.logger.info(
            "chat completion",
            extra={
                **context,
                "model": record.name,
                "requested_model": resolved.requested,
                "provider": record.provider,
                "status": 200,
                "latency_ms": round(figures.latency_ms, 1),
                "upstream_latency_ms": round(figures.upstream_latency_ms or 0.0, 1),
                "prompt_tokens": figures.prompt_tokens,
                "completion_tokens": figures.completion_tokens,
            },
        )
        return _json(200, completion, {"x-rft-model": record.name})

    def _resolve(self, model: str) -> Resolved:
        from rft.errors import UnknownModelError
        from rft.jobs import is_valid_name

        if not is_valid_name(model):
            # Checked before any lookup or cache entry: a name that no model can have costs nothing.
            raise errors.model_not_found(model)
        try:
            resolved = self.resolver.resolve(model)
        except UnknownModelError as exc:
            self.logger.info("unknown model", extra={"model": model})
            raise errors.model_not_found(model) from exc
        if not resolved.record.callable:
            raise errors.model_not_found(
                model, f" as a callable model (it is {resolved.record.status}: trained but not deployed)"
            )
        return resolved

    def _call_bedrock(self, request: ChatRequest, model_id: str, region: str) -> dict[str, Any]:
        from botocore.exceptions import BotoCoreError, ClientError, ConnectTimeoutError, ReadTimeoutError

        client = self._cached(("bedrock", region), lambda: self.bedrock_client(region))
        try:
            response = client.converse(**converse.converse_request(request, model_id))
        except ClientError as exc:
            error = exc.response.get("Error", {})
            headers = exc.response.get("ResponseMetadata", {}).get("HTTPHeaders", {})
            code = str(error.get("Code", ""))
            raise converse.translate_client_error(code, str(error.get("Message", "")), headers) from exc
        except (ReadTimeoutError, ConnectTimeoutError) as exc:
            raise errors.upstream_failed("Bedrock did not answer in time", code="upstream_timeout") from exc
        except BotoCoreError as exc:
            raise errors.upstream_failed(f"Bedrock could not be reached ({type(exc).__name__})") from exc
        return converse.chat_completion(
            response, model=model_id, completion_id=f"chatcmpl-{uuid.uuid4().hex}", created=int(self.clock())
        )

    def _call_mantle(
        self, request: ChatRequest, model_id: str, region: str, base_url: str | None
    ) -> dict[str, Any]:
        client = self._cached(
            ("mantle", region, base_url or ""), lambda: self.mantle_client(region, base_url)
        )
        return mantle.complete(client, request, model_id)

    def _cached(self, key: tuple[str, ...], create: Callable[[], Any]) -> Any:
        with self._lock:
            if key not in self._clients:
                self._clients[key] = create()
            return self._clients[key]


def _route(event: Mapping[str, Any]) -> str:
    route = event.get("routeKey")
    if isinstance(route, str) and route != "$default":
        return route
    http = event.get("requestContext", {}).get("http", {})
    return f"{http.get('method', '')} {event.get('rawPath') or http.get('path', '')}"


def _request_context(event: Mapping[str, Any]) -> dict[str, Any]:
    """What the logs say about who asked (never what they asked)."""
    context = event.get("requestContext", {})
    authorizer = context.get("authorizer") or {}
    caller = (authorizer.get("iam") or {}).get("userArn") or (
        ((authorizer.get("jwt") or {}).get("claims") or {}).get("sub")
    )
    return {"request_id": context.get("requestId"), "caller": caller}


def _json(status: int, body: Any, headers: Mapping[str, str] | None = None) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {"content-type": "application/json", **(headers or {})},
        "body": json.dumps(body, ensure_ascii=False),
    }


# --- Lambda entry point ----------------------------------------------------------------------

_default: Gateway | None = None


def build_gateway(environ: Mapping[str, str] = os.environ, session: Any = None) -> Gateway:
    """The gateway as deployed: registry of `RFT_ENVIRONMENT` in SSM, clients in the function's region."""
    import boto3
    from botocore.config import Config

    from rft.registry import ModelRegistry

    session = session or boto3.session.Session()
    region = environ.get("AWS_REGION") or session.region_name
    timeout = float(environ.get("UPSTREAM_TIMEOUT_SECONDS", DEFAULT_UPSTREAM_TIMEOUT_SECONDS))
    ssm = session.client(
        "ssm", region_name=region, config=Config(retries={"mode": "adaptive", "max_attempts": 4})
    )
    registry = ModelRegistry(ssm, environ["RFT_ENVIRONMENT"])
    # No retries inside the gateway: a throttled model is a 429 at once and the caller's SDK waits.
    runtime_config = Config(
        retries={"mode": "standard", "max_attempts": 1}, read_timeout=timeout, connect_timeout=5
    )
    return Gateway(
        resolver=CachedResolver(
            registry, ttl_seconds=float(environ.get("REGISTRY_CACHE_SECONDS", DEFAULT_TTL_SECONDS))
        ),
        bedrock_client=lambda r: session.client("bedrock-runtime", region_name=r, config=runtime_config),
        mantle_client=mantle.default_client_factory(session, timeout),
        metrics_namespace=environ.get("METRICS_NAMESPACE", metrics.DEFAULT_NAMESPACE),
    )


def handler(event: Mapping[str, Any], _context: Any = None) -> dict[str, Any]:
    global _default
    if _default is None:
        _default = build_gateway()
    return _default.handle(event)
