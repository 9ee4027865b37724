"""Step 5 of the training workflow: publish the model record (SSM Parameter Store, through the
publish Lambda), announce it on EventBridge ("RFT Model Ready") and mail a summary, then succeed."""

from __future__ import annotations

from aws_cdk import aws_sns as sns
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from rft.workflow_state import path
from stacks.constructs.workflow_failures import WorkflowFailures
from stacks.constructs.workflow_function import WorkflowFunction
from stacks.constructs.workflow_states import (
    ANNOUNCE,
    MODEL_READY_DETAIL_TYPE,
    MODEL_READY_SOURCE,
    NOTIFY_READY,
    PUBLISH,
    SUCCEEDED,
)


def publish_model(
    scope: Construct, *, function: WorkflowFunction, topic: sns.ITopic, failures: WorkflowFailures
) -> tasks.LambdaInvoke:
    """The publish chain, as children of `scope`; returns its first state."""
    publish = function.invoke(
        scope,
        PUBLISH,
        {
            "state": sfn.JsonPath.entire_payload,
            "execution_arn": sfn.JsonPath.execution_id,
            "started_at": sfn.JsonPath.execution_start_time,
        },
        comment="Writes the model record to SSM Parameter Store (/rft/<env>/models/<name>)",
        result_selector={
            "record": sfn.JsonPath.object_at("$.Payload.record"),
            "parameter": sfn.JsonPath.string_at("$.Payload.parameter"),
        },
        result_path=path("published"),
    )
    failures.catch(publish, "Publish")
    announce = tasks.EventBridgePutEvents(
        scope,
        ANNOUNCE,
        entries=[
            tasks.EventBridgePutEventsEntry(
                source=MODEL_READY_SOURCE,
                detail_type=MODEL_READY_DETAIL_TYPE,
                detail=sfn.TaskInput.from_json_path_at(path("published", "record")),
            )
        ],
        result_path=sfn.JsonPath.DISCARD,
    )
    failures.catch(announce, "Publish")
    notify = tasks.SnsPublish(
        scope,
        NOTIFY_READY,
        topic=topic,
        subject=sfn.JsonPath.format("RFT model {} is ready", sfn.JsonPath.string_at(path("plan", "name"))),
        message=sfn.TaskInput.from_text(
            sfn.JsonPath.format(
                "The RFT run {} finished. Model {} ({}, {}) is recorded in SSM parameter {} as {}. "
                "Execution: {}",
                sfn.JsonPath.string_at(path("plan", "name")),
                sfn.JsonPath.string_at(path("published", "record", "name")),
                sfn.JsonPath.string_at(path("published", "record", "provider")),
                sfn.JsonPath.string_at(path("published", "record", "status")),
                sfn.JsonPath.string_at(path("published", "parameter")),
                sfn.JsonPath.string_at(path("published", "record", "model_id")),
                sfn.JsonPath.execution_id,
            )
        ),
        result_path=sfn.JsonPath.DISCARD,
    )
    failures.catch(notify, "Publish")
    publish.next(announce).next(notify).next(sfn.Succeed(scope, SUCCEEDED))
    return publish
