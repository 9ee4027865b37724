"""The client against the real, synthesized training workflow (not the stand-in).

tests/workflow's harness creates the stage's resources in moto and runs the synthesized state
machine with the workflow's real Lambda handlers in-process (the Mantle steps talking to the fake
OpenAI-compatible server). Here the stacks' outputs, resolved from the synthesized templates, are
registered as CloudFormation stacks, so `rft` discovers the environment exactly as after a deploy:
a renamed output, a moved state field or a changed failure cause breaks this test.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber

from rft.environment import Environment
from tests.fakes.openai_server import FakeOpenAIServer
from tests.workflow.conftest import GPT_OSS, NOVA, mantle_functions_using, on_mantle_status, synthesized
from tests.workflow.offline import FakeBedrock, WorkflowHarness, dataset_lines


@pytest.fixture
def real_environment(aws_credentials: None, fake_openai: FakeOpenAIServer) -> Iterator[WorkflowHarness]:
    """The Mantle plane (gpt-oss-20b), its steps talking to the fake OpenAI-compatible server."""
    yield from _deployed("mantle", function_environment=mantle_functions_using(fake_openai))


@pytest.fixture
def real_bedrock_environment(aws_credentials: None) -> Iterator[WorkflowHarness]:
    """The Bedrock plane (Nova, us-east-1): SDK tasks against the harness's Bedrock stand-in, the
    job polled InProgress twice, then Completed; the deployment Creating, then Active."""
    yield from _deployed(
        "bedrock", bedrock=FakeBedrock(job_statuses=["InProgress", "InProgress", "Completed"])
    )


def _deployed(variant: str, **harness_options: Any) -> Iterator[WorkflowHarness]:
    templates, region, training = synthesized(variant)
    harness = WorkflowHarness(
        templates, region=region, training_stack=training, virtual_waits=True, **harness_options
    )
    with harness:
        _register_outputs(harness, templates)
        yield harness


def _register_outputs(harness: WorkflowHarness, templates: dict[str, dict[str, Any]]) -> None:
    """Each stack's outputs, resolved, as a CloudFormation stack the client can describe."""
    cloudformation = harness.client("cloudformation")
    for stack, template in templates.items():
        outputs = {key: harness.resolver.resolve(stack, o["Value"]) for key, o in template["Outputs"].items()}
        cloudformation.create_stack(
            StackName=stack,
            TemplateBody=json.dumps(
                {
                    "Resources": {"Marker": {"Type": "AWS::SNS::Topic"}},
                    "Outputs": {key: {"Value": value} for key, value in outputs.items()},
                }
            ),
        )


def _mantle_job_progress(
    harness: WorkflowHarness, server: FakeOpenAIServer, *, fail_with: str | None
) -> None:
    """Mantle's side of a run: a metrics step per status poll; done (or failed) on the third."""

    def progress(event: dict[str, Any], step: int) -> None:
        job_id = event["job_id"]
        server.add_metrics(job_id, step=step, total_steps=3, critic_rewards_mean=0.5 + 0.1 * step)
        if step == 3 and fail_with:
            server.set_job(job_id, status="failed", error={"message": fail_with, "code": "grader_error"})
        elif step == 3:
            server.set_job(
                job_id, status="succeeded", fine_tuned_model=f"ft:{GPT_OSS}:{event['plan']['name']}"
            )
        else:
            server.set_job(job_id, status="running")

    harness.before_invoke = on_mantle_status(progress)


def test_start_watch_and_chat_against_the_real_workflow(rft, real_environment, fake_openai, tmp_path) -> None:
    data = tmp_path / "train.jsonl"
    data.write_text("\n".join(dataset_lines(110)) + "\n")
    uri = rft("data", "upload", str(data)).stdout.strip()
    _mantle_job_progress(real_environment, fake_openai, fail_with=None)

    started = rft(
        "train", "start", "--name", "oss-1", "--base-model", GPT_OSS, "--data", uri, "-r", "math_answer"
    )
    assert started.exit_code == 0, started.stderr
    watched = rft("train", "watch", "oss-1", "--interval", "0.1")
    assert watched.exit_code == 0, watched.stdout + watched.stderr
    assert "Run oss-1: SUCCEEDED · Succeeded · job succeeded · step 3/3 · mean reward 0.800" in watched.stdout
    assert f"Model oss-1 is ready: ft:{GPT_OSS}:oss-1 (mantle)" in watched.stdout

    run = rft("train", "watch", "oss-1", "--json").json()
    assert run["job_id"] == next(iter(fake_openai.jobs)) and [m["step"] for m in run["metrics"]] == [1, 2, 3]
    assert run["model"]["training_data"] == uri

    chatted = rft("chat", "oss-1", "What is 2 + 2?", "--no-stream")
    assert chatted.exit_code == 0, chatted.stderr
    assert fake_openai.requests_to("/v1/chat/completions")[-1].body["model"] == f"ft:{GPT_OSS}:oss-1"
    assert [r["name"] for r in rft("train", "list", "--json").json()] == ["oss-1"]


def test_watch_prints_the_real_failure_cause(rft, real_environment, fake_openai, tmp_path) -> None:
    data = tmp_path / "train.jsonl"
    data.write_text("\n".join(dataset_lines(110)) + "\n")
    uri = rft("data", "upload", str(data)).stdout.strip()
    _mantle_job_progress(
        real_environment, fake_openai, fail_with="the grader returned 7 scores for 8 samples"
    )

    assert rft("train", "start", "-n", "oss-2", "-m", GPT_OSS, "-d", uri, "-r", "math_answer").exit_code == 0
    watched = rft("train", "watch", "oss-2", "--interval", "0.1")
    assert watched.exit_code == 1
    job_id = next(iter(fake_openai.jobs))
    cause = f"Mantle job {job_id} failed: the grader returned 7 scores for 8 samples"
    assert f"The run failed: {cause} (TrainingFailed)" in watched.stdout


def _upload(rft, harness: WorkflowHarness, tmp_path) -> str:
    data = tmp_path / "train.jsonl"
    data.write_text("\n".join(dataset_lines(110)) + "\n")
    uploaded = rft("data", "upload", str(data), "--region", harness.region)
    assert uploaded.exit_code == 0, uploaded.stderr
    return uploaded.stdout.strip()


def _converse_answering(monkeypatch: pytest.MonkeyPatch, region: str, model_id: str, text: str) -> Stubber:
    """bedrock-runtime's Converse (which moto lacks) held to its service model: one answer, and
    only to a request for `model_id`."""
    runtime = boto3.client("bedrock-runtime", region_name=region)
    stubber = Stubber(runtime)
    answer = {
        "output": {"message": {"role": "assistant", "content": [{"text": text}]}},
        "stopReason": "end_turn",
        "usage": {"inputTokens": 8, "outputTokens": 2, "totalTokens": 10},
        "metrics": {"latencyMs": 120},
    }
    stubber.add_response("converse", answer, {"modelId": model_id, "messages": ANY, "inferenceConfig": ANY})
    stubber.activate()
    original = Environment.client
    monkeypatch.setattr(
        Environment,
        "client",
        lambda env, service: runtime if service == "bedrock-runtime" else original(env, service),
    )
    return stubber


def test_start_and_watch_a_bedrock_run_to_its_deployed_model(
    rft, real_bedrock_environment, tmp_path, monkeypatch
) -> None:
    harness = real_bedrock_environment
    uri = _upload(rft, harness, tmp_path)
    region = ("--region", harness.region)

    started = rft("train", "start", "-n", "nova-1", "-m", NOVA, "-d", uri, "-r", "math_answer", *region)
    assert started.exit_code == 0, started.stderr
    watched = rft("train", "watch", "nova-1", "--interval", "0.1", *region)
    assert watched.exit_code == 0, watched.stdout + watched.stderr
    assert "Run nova-1: SUCCEEDED · Succeeded · job Completed" in watched.stdout

    job = harness.bedrock_job("nova-1")
    (deployment_arn,) = harness.bedrock.deployments
    run = rft("train", "watch", "nova-1", "--json", *region).json()
    assert run["provider"] == "bedrock" and run["job_id"] == job.job_arn and run["job_status"] == "Completed"
    assert run["model"]["provider"] == "bedrock" and run["model"]["model_id"] == deployment_arn
    assert run["model"]["custom_model_arn"] == job.output_model_arn
    assert f"Model nova-1 is ready: {deployment_arn} (bedrock)" in watched.stdout

    # The published record is enough to call the model: Converse on the deployment the workflow made.
    converse = _converse_answering(monkeypatch, harness.region, deployment_arn, "2 + 2 = 4")
    chatted = rft("chat", "nova-1", "What is 2 + 2?", "--no-stream", *region)
    assert chatted.exit_code == 0, chatted.stderr
    assert chatted.stdout == "2 + 2 = 4\n"
    converse.assert_no_pending_responses()
    assert [r["name"] for r in rft("train", "list", "--json", *region).json()] == ["nova-1"]


def test_watch_prints_the_bedrock_jobs_failure_message(rft, real_bedrock_environment, tmp_path) -> None:
    harness = real_bedrock_environment
    harness.bedrock.job_statuses = ["InProgress", "Failed"]
    harness.bedrock.failure_message = "The reward function returned 7 scores for 8 samples."
    uri = _upload(rft, harness, tmp_path)
    region = ("--region", harness.region)

    assert (
        rft("train", "start", "-n", "nova-2", "-m", NOVA, "-d", uri, "-r", "math_answer", *region).exit_code
        == 0
    )
    watched = rft("train", "watch", "nova-2", "--interval", "0.1", *region)
    assert watched.exit_code == 1
    cause = f"Bedrock job {harness.bedrock_job('nova-2').job_arn} failed: {harness.bedrock.failure_message}"
    assert f"The run failed: {cause} (TrainingFailed)" in watched.stdout
