"""The training workflow's step helpers: a wildcard grant always carries its cdk-nag acknowledgment,
a step is invoked through its `live` alias within its own timeout, and a state that several paths
reach is made once."""

from __future__ import annotations

import aws_cdk as cdk
import pytest
from aws_cdk import aws_kms as kms
from aws_cdk import aws_stepfunctions as sfn

from stacks.constructs.workflow_function import TASK_TIMEOUT_MARGIN, WorkflowFunction
from stacks.constructs.workflow_states import created_once
from stacks.security import add_security_checks, arn
from tests.infra.helpers import new_app

REASON = "Reads the files of runs whose names are chosen at run time"


def _step(timeout_minutes: int = 1) -> tuple[cdk.App, cdk.Stack, WorkflowFunction]:
    app = new_app()
    stage = cdk.Stage(app, "t", env=cdk.Environment(region="us-east-1"))
    stack = cdk.Stack(stage, "Steps")
    key = kms.Key(stack, "Key", enable_key_rotation=True)
    step = WorkflowFunction(
        stack,
        "Step",
        handler="validate.handler",
        description="a workflow step under test",
        log_retention_days=7,
        retain_logs=False,
        log_key=key,
        timeout=cdk.Duration.minutes(timeout_minutes),
    )
    add_security_checks(stage)
    return app, stack, step


def test_a_wildcard_grant_passes_the_gate_with_its_acknowledgment():
    app, stack, step = _step()
    runs = arn(stack, "s3", "bucket/jobs/*", account=False, region=False)
    step.allow_wildcard(["s3:GetObject"], runs, REASON)
    app.synth()  # raises on an unacknowledged cdk-nag finding
    statements = stack.resolve(step.policy.document)["Statement"]
    assert [s["Action"] for s in statements] == ["s3:GetObject"]


def test_the_same_grant_without_the_helper_fails_the_gate():
    app, stack, step = _step()
    step.allow(["s3:GetObject"], [arn(stack, "s3", "bucket/jobs/*", account=False, region=False)])
    with pytest.raises(Exception, match="AwsSolutions-IAM5"):
        app.synth()


def test_a_step_is_invoked_through_its_live_alias_within_its_timeout_plus_a_margin():
    _, stack, step = _step(timeout_minutes=2)
    task = step.invoke(stack, "Invoke step", {"plan.$": "$.plan"}, comment="why")
    state = stack.resolve(task.to_state_json())
    assert state["Parameters"]["FunctionName"] == stack.resolve(step.alias.function_arn)
    assert state["Parameters"]["Payload"] == {"plan.$": "$.plan"}
    assert state["TimeoutSeconds"] == 120 + TASK_TIMEOUT_MARGIN.to_seconds()
    waits = step.invoke(
        stack, "Wait for it", {}, comment="why", task_timeout=sfn.Timeout.at("$.wait_seconds")
    )
    assert stack.resolve(waits.to_state_json())["TimeoutSecondsPath"] == "$.wait_seconds"


def test_a_state_reached_from_several_paths_is_made_once():
    stack = cdk.Stack(cdk.App(), "S")
    made: list[sfn.Pass] = []

    def make() -> sfn.Pass:
        made.append(sfn.Pass(stack, "Shared"))
        return made[-1]

    first, second = created_once(stack, "Shared", make), created_once(stack, "Shared", make)
    assert first is second is made[0]
    assert len(made) == 1
