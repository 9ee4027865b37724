"""The gateway with a registry in moto SSM, a stubbed Bedrock runtime and a local fake Mantle."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from lambda_gateway import mantle
from lambda_gateway.handler import Gateway
from lambda_gateway.registry import CachedResolver
from rft.records import ModelRecord
from rft.registry import ModelRegistry
from tests.fakes.openai_server import FakeOpenAIServer

ENVIRONMENT = "staging"
REGION = "us-west-2"
ACCOUNT = "123456789012"
DEPLOYMENT_ARN = f"arn:aws:bedrock:{REGION}:{ACCOUNT}:custom-model-deployment/abcdef123456"
MANTLE_MODEL_ID = "ft:openai.gpt-oss-20b:math-mantle"
NOW = 1_790_000_000


@pytest.fixture(autouse=True)
def fake_aws_credentials(monkeypatch):
    """moto and SigV4 need credentials to sign with; these never reach AWS."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDTESTING")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing-token")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    for name in ("AWS_PROFILE", "AWS_BEARER_TOKEN_BEDROCK", "AWS_BEDROCK_BASE_URL", "AWS_REGION"):
        monkeypatch.delenv(name, raising=False)


def record(name: str, provider: str, **overrides: Any) -> ModelRecord:
    values: dict[str, Any] = {
        "name": name,
        "environment": ENVIRONMENT,
        "provider": provider,
        "region": REGION,
        "model_id": DEPLOYMENT_ARN if provider == "bedrock" else MANTLE_MODEL_ID,
        "base_model": "amazon.nova-2-lite-v1:0:256k" if provider == "bedrock" else "openai.gpt-oss-20b",
        "reward": "math_answer",
        "job_id": f"job-{name}",
        "deployment_arn": DEPLOYMENT_ARN if provider == "bedrock" else None,
        "published_at": "2026-11-20T10:00:00Z",
    }
    values.update(overrides)
    return ModelRecord(**values)


def chat_event(body: Any, *, raw: bool = False, base64_encoded: bool = False) -> dict[str, Any]:
    text = body if raw else json.dumps(body)
    if base64_encoded:
        text = base64.b64encode(text.encode()).decode()
    return {
        "version": "2.0",
        "routeKey": "POST /v1/chat/completions",
        "rawPath": "/v1/chat/completions",
        "headers": {"content-type": "application/json"},
        "requestContext": {
            "requestId": "req-1",
            "http": {"method": "POST", "path": "/v1/chat/completions"},
            "authorizer": {"iam": {"userArn": f"arn:aws:iam::{ACCOUNT}:user/app"}},
        },
        "body": text,
        "isBase64Encoded": base64_encoded,
    }


def models_event() -> dict[str, Any]:
    return {
        "version": "2.0",
        "routeKey": "GET /v1/models",
        "rawPath": "/v1/models",
        "requestContext": {"requestId": "req-2", "http": {"method": "GET", "path": "/v1/models"}},
    }


def body_of(response: dict[str, Any]) -> Any:
    return json.loads(response["body"])


def converse_response(
    text: str = "#### 18", stop_reason: str = "end_turn", tokens: tuple[int, int] = (12, 5)
) -> dict[str, Any]:
    return {
        "output": {"message": {"role": "assistant", "content": [{"text": text}]}},
        "stopReason": stop_reason,
        "usage": {"inputTokens": tokens[0], "outputTokens": tokens[1], "totalTokens": sum(tokens)},
        "metrics": {"latencyMs": 120},
    }


@dataclass
class World:
    gateway: Gateway
    registry: ModelRegistry
    ssm: Any
    bedrock: Stubber
    mantle: FakeOpenAIServer
    session: Any
    calls: list[str] = field(default_factory=list)

    def handle(self, event: dict[str, Any]) -> dict[str, Any]:
        return self.gateway.handle(event)

    def chat(self, **body: Any) -> dict[str, Any]:
        return self.handle(chat_event(body))


@pytest.fixture
def world() -> Iterator[World]:
    with mock_aws(), FakeOpenAIServer(models=(MANTLE_MODEL_ID,)) as fake_mantle:
        session = boto3.session.Session(region_name=REGION)
        ssm = session.client("ssm")
        registry = ModelRegistry(ssm, ENVIRONMENT)
        registry.put_model(record("math-nova", "bedrock"))
        registry.put_model(record("math-oss", "mantle", base_url=fake_mantle.base_url))
        registry.put_model(
            record("math-undeployed", "bedrock", status="trained", deployment_arn=None, model_id="arn:x")
        )
        registry.set_alias("prod", "math-nova", by="test", reason="first")
        registry.set_alias("canary", "math-oss", by="test", reason="first")
        runtime = session.client("bedrock-runtime")
        with Stubber(runtime) as stubber:
            gateway = Gateway(
                resolver=CachedResolver(registry, ttl_seconds=0.0),
                bedrock_client=lambda region: runtime,
                mantle_client=mantle.default_client_factory(session, 5.0),
                clock=lambda: NOW,
            )
            yield World(gateway, registry, ssm, stubber, fake_mantle, session)
            stubber.assert_no_pending_responses()


class _UnusedRegistry:
    """A registry a refused request must never reach (bad requests cost no SSM call)."""

    environment = ENVIRONMENT

    def resolve(self, model_or_alias: str) -> ModelRecord:
        raise AssertionError(f"the registry was asked for {model_or_alias!r}")

    def list_models(self) -> list[ModelRecord]:
        raise AssertionError("the registry was listed")

    def list_aliases(self) -> dict[str, Any]:
        raise AssertionError("the registry was listed")


@dataclass
class Offline:
    gateway: Gateway

    def handle(self, event: dict[str, Any]) -> dict[str, Any]:
        return self.gateway.handle(event)

    def chat(self, **body: Any) -> dict[str, Any]:
        return self.handle(chat_event(body))


@pytest.fixture
def offline() -> Offline:
    """The gateway with no registry and no model behind it: for requests refused before resolution."""

    def no_client(*_args: Any) -> Any:
        raise AssertionError("a refused request must not reach a model")

    return Offline(
        Gateway(resolver=CachedResolver(_UnusedRegistry()), bedrock_client=no_client, mantle_client=no_client)
    )
