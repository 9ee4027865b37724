"""Fixtures of the offline workflow tests: the synthesized templates (built once per variant), a
harness per test, datasets in the moto datasets bucket, and job requests with zero waits."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterator
from typing import Any

import aws_cdk as cdk
import pytest

from stacks.stage import RftStage
from tests.fakes.openai_server import FakeOpenAIServer
from tests.infra.helpers import new_app, settings
from tests.workflow.offline import FakeBedrock, WorkflowHarness, dataset_lines

NOVA = "amazon.nova-2-lite-v1:0:256k"
GPT_OSS = "openai.gpt-oss-20b"
# The catalog offers Nova 2 Lite RFT in us-east-1 and the Mantle models in us-west-2 (rft.assumptions):
# the Bedrock path runs in a staging environment placed in us-east-1.
VARIANTS: dict[str, dict[str, Any]] = {
    "bedrock": {"region": "us-east-1", "allowed_base_models": [NOVA]},
    "mantle": {},
}
ZERO_WAITS = {"first_wait_seconds": 0, "max_wait_seconds": 0}
# The states every successful run enters first and last, whichever control plane trains it.
ACCEPTED_PATH = ["Validate request", "Request valid?", "Validate only?", "Which control plane?"]
PUBLISHED_PATH = ["Publish model record", "Announce model ready", "Notify model ready", "Succeeded"]


@functools.cache
def synthesized(variant: str, *, auto_stop: bool = True) -> tuple[dict[str, dict[str, Any]], str, str]:
    """(templates by stack name, region, training stack name) of the staging stage, bundling skipped;
    `auto_stop=False` is the setting `training.auto_stop` turned off."""
    training = {} if auto_stop else {"training": {"auto_stop": False}}
    environment = settings("staging", **VARIANTS[variant], **training)
    stage = RftStage(
        new_app(), "staging", settings=environment, env=cdk.Environment(region=environment.region)
    )
    assembly = stage.synth()
    stacks = (stage.data, stage.rewards, stage.training)
    templates = {s.stack_name: assembly.get_stack_artifact(s.artifact_id).template for s in stacks}
    return templates, stage.training.region, stage.training.stack_name


@pytest.fixture(autouse=True)
def fake_aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """moto signs with these; nothing reaches AWS."""
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.setenv(key, "testing")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("AWS_BEARER_TOKEN_BEDROCK", raising=False)


@pytest.fixture
def mantle_server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as server:
        yield server


HarnessFactory = Callable[..., WorkflowHarness]
BeforeInvoke = Callable[[str, dict[str, Any]], None]


@pytest.fixture
def workflow() -> Iterator[HarnessFactory]:
    """`workflow("bedrock", bedrock=FakeBedrock(...))` -> a running harness, closed after the test."""
    opened: list[WorkflowHarness] = []

    def open_harness(variant: str, **kwargs: Any) -> WorkflowHarness:
        templates, region, training = synthesized(variant)
        harness = WorkflowHarness(templates, region=region, training_stack=training, **kwargs).__enter__()
        opened.append(harness)
        return harness

    yield open_harness
    for harness in reversed(opened):
        harness.__exit__(None, None, None)


def mantle_functions_using(server: FakeOpenAIServer) -> dict[str, dict[str, str]]:
    """The harness's `function_environment` that points the Mantle function's openai SDK at `server`."""
    return {"Mantle": {"MANTLE_BASE_URL": server.base_url}}


@pytest.fixture
def mantle_harness(workflow: HarnessFactory, mantle_server: FakeOpenAIServer) -> WorkflowHarness:
    """The Mantle plane's harness, its Mantle steps talking to `mantle_server`."""
    return workflow("mantle", function_environment=mantle_functions_using(mantle_server))


def on_mantle_status(look: Callable[[dict[str, Any], int], None]) -> BeforeInvoke:
    """A `before_invoke` hook that calls `look(event, n)` before the Mantle function's n-th status
    step (n from 1): how a test scripts Mantle's side of a run, poll by poll."""
    looks = 0

    def before_invoke(logical_id: str, event: dict[str, Any]) -> None:
        nonlocal looks
        if logical_id.startswith("Mantle") and event.get("action") == "status":
            looks += 1
            look(event, looks)

    return before_invoke


def upload(harness: WorkflowHarness, key: str, lines: list[str]) -> str:
    bucket = harness.bucket("staging-Data", "DatasetsBucket")
    harness.client("s3").put_object(Bucket=bucket, Key=key, Body=("\n".join(lines) + "\n").encode())
    return f"s3://{bucket}/{key}"


def grader_arn(harness: WorkflowHarness, reward: str) -> str:
    return json.loads(harness.environment_of("Validate")["GRADERS"])[reward]


def job_request(name: str, base_model: str, training_data: str, **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "base_model": base_model,
        "training_data": training_data,
        "reward": "math_answer",
        **ZERO_WAITS,
        **extra,
    }


__all__ = ["FakeBedrock", "dataset_lines", "grader_arn", "job_request", "upload"]
