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

import pytest

from tests.fakes.openai_server import FakeOpenAIServer
from tests.workflow.conftest import GPT_OSS, synthesized
from tests.workflow.offline import WorkflowHarness, dataset_lines


@pytest.fixture
def real_environment(aws_credentials: None, fake_openai: FakeOpenAIServer) -> Iterator[WorkflowHarness]:
    templates, region, training = synthesized("mantle")
    harness = WorkflowHarness(
        templates,
        region=region,
        training_stack=training,
        virtual_waits=True,
        function_environment={"Mantle": {"MANTLE_BASE_URL": fake_openai.base_url}},
    )
    with harness:
        cloudformation = harness.client("cloudformation")
        for stack, template in templates.items():
            outputs = {
                key: harness.resolver.resolve(stack, o["Value"]) for key, o in template["Outputs"].items()
            }
            cloudformation.create_stack(
                StackName=stack,
                TemplateBody=json.dumps(
                    {
                        "Resources": {"Marker": {"Type": "AWS::SNS::Topic"}},
                        "Outputs": {key: {"Value": value} for key, value in outputs.items()},
                    }
                ),
            )
        yield harness


def _mantle_job_progress(
    harness: WorkflowHarness, server: FakeOpenAIServer, *, fail_with: str | None
) -> None:
    """Mantle's side of a run: a metrics step per status poll; done (or failed) on the third."""
    polls: list[str] = []

    def progress(logical_id: str, event: dict[str, Any]) -> None:
        if not (logical_id.startswith("Mantle") and event.get("action") == "status"):
            return
        job_id = event["job_id"]
        polls.append(job_id)
        step = len(polls)
        server.add_metrics(job_id, step=step, total_steps=3, critic_rewards_mean=0.5 + 0.1 * step)
        if step == 3 and fail_with:
            server.set_job(job_id, status="failed", error={"message": fail_with, "code": "grader_error"})
        elif step == 3:
            server.set_job(
                job_id, status="succeeded", fine_tuned_model=f"ft:{GPT_OSS}:{event['plan']['name']}"
            )
        else:
            server.set_job(job_id, status="running")

    harness.before_invoke = progress


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
