"""A deployed environment in moto, a fake OpenAI-compatible endpoint, and a runner for `rft`.

The environment is what `make deploy ENV=staging` leaves behind, as far as the client can see it:
the four stacks with the outputs the client reads (rft.environment), the buckets, the KMS key, and
a state machine whose states carry the real workflow's kind of names and outputs. moto executes the
state machine, so runs really start, move through states, fail or succeed.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from unittest import mock

import boto3
import botocore.loaders
import pytest
from moto import mock_aws
from typer.testing import CliRunner

from rft.cli import common
from rft.cli.main import app
from rft.records import ModelRecord
from rft.registry import ModelRegistry
from rft.workflow_state import path
from tests.fakes.openai_server import FakeOpenAIServer

REGION = "us-west-2"
ENV = "staging"
ROLE = "arn:aws:iam::123456789012:role/workflow"
METRICS_URI = "s3://artifacts-bucket/jobs/{}/metrics.jsonl"  # the workflow's (rft.job_plan.plan_job)
GRADERS = {
    "math_answer": f"arn:aws:lambda:{REGION}:123456789012:function:staging-math:live",
    "json_schema": f"arn:aws:lambda:{REGION}:123456789012:function:staging-json:live",
}


def workflow_definition(
    *,
    outcome: str = "succeeded",
    failure_message: str = "reward Lambda timed out",
    wait_seconds: int | None = 0,
) -> dict:
    """A stand-in for the training workflow (Mantle branch): the real state names and the shapes of
    the state it keeps (`plan`, `training`, `mantle_job`, `failure`), no services.

    "Wait for Mantle job" waits ``wait_seconds``, or when None the request's `first_wait_seconds` (as
    the real workflow does); the job then ends as ``outcome`` ("succeeded" or "failed"), a
    failure ending in the Fail state with the workflow's cause sentence.
    """
    state = {"succeeded": "SUCCEEDED", "failed": "FAILED"}[outcome]
    wait = (
        {"SecondsPath": path("watch", "wait_seconds")} if wait_seconds is None else {"Seconds": wait_seconds}
    )
    return {
        "StartAt": "Validate request",
        "States": {
            "Validate request": {
                "Type": "Pass",
                "Parameters": {
                    "valid": True,
                    "plan": {
                        "name.$": "$.name",
                        "provider": "mantle",
                        "metrics_s3_uri.$": f"States.Format('{METRICS_URI}', $.name)",
                    },
                    "watch": {"wait_seconds.$": "$.first_wait_seconds"},
                },
                "Next": "Request valid?",
            },
            "Request valid?": {
                "Type": "Choice",
                "Choices": [{"Variable": path("valid"), "BooleanEquals": True, "Next": "Start Mantle job"}],
                "Default": "Failed",
            },
            "Start Mantle job": {
                "Type": "Pass",
                "Result": {"job_id": "ftjob-1", "status": "validating_files", "provider": "mantle"},
                "ResultPath": path("training"),
                "Next": "Wait for Mantle job",
            },
            "Wait for Mantle job": {"Type": "Wait", **wait, "Next": "Get Mantle job"},
            "Get Mantle job": {
                "Type": "Pass",
                "Result": {
                    "id": "ftjob-1",
                    "status": outcome,
                    "state": state,
                    "failure_message": failure_message,
                },
                "ResultPath": path("mantle_job"),
                "Next": "Mantle job status?",
            },
            "Mantle job status?": {
                "Type": "Choice",
                "Choices": [
                    {
                        "Variable": path("mantle_job", "state"),
                        "StringEquals": "SUCCEEDED",
                        "Next": "Publish model record",
                    }
                ],
                "Default": "Mantle job failed",
            },
            "Publish model record": {"Type": "Pass", "Next": "Succeeded"},
            "Succeeded": {"Type": "Succeed"},
            "Mantle job failed": {
                "Type": "Pass",
                "Parameters": {
                    "step": "Watch",
                    "error": "TrainingFailed",
                    "cause.$": f"States.Format('Mantle job {{}} failed: {{}}', {path('training', 'job_id')}, "
                    f"{path('mantle_job', 'failure_message')})",
                },
                "ResultPath": path("failure"),
                "Next": "Failed",
            },
            "Failed": {
                "Type": "Fail",
                "ErrorPath": path("failure", "error"),
                "CausePath": path("failure", "cause"),
            },
        },
    }


@dataclass
class Deployed:
    """Names of what the fake deployment created."""

    region: str
    datasets_bucket: str
    artifacts_bucket: str
    key_arn: str
    state_machine_arn: str
    gateway_url: str

    def client(self, service: str) -> Any:
        return boto3.client(service, region_name=self.region)

    def registry(self) -> ModelRegistry:
        return ModelRegistry(self.client("ssm"), ENV)

    def put_model(self, name: str, *, base_url: str, **fields: Any) -> ModelRecord:
        record = ModelRecord(
            name=name,
            environment=ENV,
            provider=fields.pop("provider", "mantle"),
            region=self.region,
            model_id=fields.pop("model_id", f"openai.gpt-oss-20b:ft:{name}"),
            base_model=fields.pop("base_model", "openai.gpt-oss-20b"),
            reward=fields.pop("reward", "math_answer"),
            job_id=fields.pop("job_id", "ftjob-1"),
            base_url=base_url,
            **fields,
        )
        return self.registry().put_model(record)

    def set_workflow(self, definition: dict[str, Any]) -> None:
        self.client("stepfunctions").update_state_machine(
            stateMachineArn=self.state_machine_arn, definition=json.dumps(definition)
        )

    def wait_for_state(self, name: str, state: str, timeout: float = 10.0) -> None:
        """Until the run has entered the state ``state``."""
        sfn = self.client("stepfunctions")
        arn = self.state_machine_arn.replace(":stateMachine:", ":execution:") + f":{name}"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            events = sfn.get_execution_history(executionArn=arn)["events"]
            if any((e.get("stateEnteredEventDetails") or {}).get("name") == state for e in events):
                return
            time.sleep(0.02)
        raise AssertionError(f"run {name} never entered {state!r}")

    def wait_for(self, name: str, status: str = "SUCCEEDED", timeout: float = 10.0) -> dict[str, Any]:
        sfn = self.client("stepfunctions")
        arn = self.state_machine_arn.replace(":stateMachine:", ":execution:") + f":{name}"
        deadline = time.monotonic() + timeout
        while True:
            execution = sfn.describe_execution(executionArn=arn)
            if execution["status"] == status or time.monotonic() > deadline:
                return execution
            time.sleep(0.05)


def _stack(cloudformation: Any, name: str, outputs: dict[str, str]) -> None:
    template = {
        "Resources": {"Marker": {"Type": "AWS::SNS::Topic"}},
        "Outputs": {key: {"Value": value} for key, value in outputs.items()},
    }
    environment = name.rsplit("-", 1)[0]
    tags = [{"Key": "project", "Value": "rft-stack"}, {"Key": "environment", "Value": environment}]
    cloudformation.create_stack(StackName=name, TemplateBody=json.dumps(template), Tags=tags)


@pytest.fixture(autouse=True, scope="session")
def _one_botocore_loader() -> Iterator[None]:
    """Every botocore session of the suite shares one loader of the service models.

    Each `rft` command builds its own boto3 session (as a real process does), and moto resets the
    default session per test: without this, every test parses the same large JSON models again,
    which was most of the suite's time. Only parsing is shared; credentials and regions are not.
    """
    loader = botocore.loaders.create_loader()
    with mock.patch("botocore.session.create_loader", lambda *args, **kwargs: loader):
        yield


@pytest.fixture
def aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_EC2_METADATA_DISABLED": "true",
    }.items():
        monkeypatch.setenv(key, value)
    for key in ("AWS_PROFILE", "RFT_ENV", "RFT_MANTLE_BASE_URL"):
        monkeypatch.delenv(key, raising=False)


@pytest.fixture
def deployed(aws_credentials: None) -> Iterator[Deployed]:
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        key_arn = boto3.client("kms", region_name=REGION).create_key(Description="data key")["KeyMetadata"][
            "Arn"
        ]
        s3 = boto3.client("s3", region_name=REGION)
        for bucket in ("datasets-bucket", "artifacts-bucket"):
            s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
        sfn = boto3.client("stepfunctions", region_name=REGION)
        machine = sfn.create_state_machine(
            name="staging-TrainingWorkflow", definition=json.dumps(workflow_definition()), roleArn=ROLE
        )
        gateway_url = "https://abc123.execute-api.us-west-2.amazonaws.com"
        cloudformation = boto3.client("cloudformation", region_name=REGION)
        _stack(
            cloudformation,
            f"{ENV}-Data",
            {
                "DatasetsBucketName": "datasets-bucket",
                "ArtifactsBucketName": "artifacts-bucket",
                "DataKeyArn": key_arn,
            },
        )
        _stack(cloudformation, f"{ENV}-Rewards", {"GraderAliasArns": json.dumps(GRADERS)})
        _stack(
            cloudformation,
            f"{ENV}-Training",
            {
                "StateMachineArn": machine["stateMachineArn"],
                "NotificationTopicArn": "arn:aws:sns:us-west-2:1:t",
            },
        )
        _stack(cloudformation, f"{ENV}-Serving", {"GatewayUrl": gateway_url})
        deployment = Deployed(
            region=REGION,
            datasets_bucket="datasets-bucket",
            artifacts_bucket="artifacts-bucket",
            key_arn=key_arn,
            state_machine_arn=machine["stateMachineArn"],
            gateway_url=gateway_url,
        )
        yield deployment
        for execution in sfn.list_executions(stateMachineArn=machine["stateMachineArn"])["executions"]:
            if execution["status"] == "RUNNING":
                sfn.stop_execution(executionArn=execution["executionArn"])


@pytest.fixture
def fake_openai(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as server:
        monkeypatch.setenv("RFT_MANTLE_BASE_URL", server.base_url)
        yield server


@dataclass
class Outcome:
    exit_code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


@pytest.fixture
def rft(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Run `rft ARGS...` in-process; returns exit code, stdout and stderr apart."""
    runner = CliRunner()
    # Tables as wide as a wide terminal, whatever the terminal running the tests (or none, under xdist).
    for console in (common.console, common.err_console):
        monkeypatch.setattr(console, "width", 200)

    def run(*args: str, input: str | None = None, env_overrides: dict[str, str] | None = None) -> Outcome:
        result = runner.invoke(app, list(args), input=input, env={"COLUMNS": "200", **(env_overrides or {})})
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise result.exception
        return Outcome(result.exit_code, result.stdout, result.stderr)

    return run


def write_jsonl(path: os.PathLike[str] | str, records: list[dict[str, Any]]) -> None:
    with open(path, "w", encoding="utf-8") as out:
        for record in records:
            out.write(json.dumps(record) + "\n")


def rft_records(count: int, *, answer: str = "18") -> list[dict[str, Any]]:
    return [
        {
            "messages": [{"role": "user", "content": f"Question {i}: what is 9 * 2?"}],
            "reference_answer": {"answer": answer},
            "task_id": f"q-{i:04d}",
        }
        for i in range(count)
    ]
