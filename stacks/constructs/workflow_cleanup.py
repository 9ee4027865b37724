"""Stopping the job of a run that ends without the workflow's own failure path: an execution that
is aborted or times out fires a rule, whose target (the cleanup step) stops the Bedrock or Mantle
job the run started. A job left running costs by the hour, so both the rule's deliveries and the
function's asynchronous invocations are retried, and what still fails lands in an alarmed queue."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_stepfunctions as sfn

from stacks.constructs.dead_letters import DeadLetters
from stacks.constructs.notifications import Notifications
from stacks.constructs.workflow_function import WorkflowFunction
from stacks.constructs.workflow_grants import MANTLE_CANCEL_ACTIONS, RunData, use_mantle
from stacks.security import arn, referenced

# States that make a run stop spending: the cleanup rule fires on these.
CLEANUP_STATUSES = ("ABORTED", "TIMED_OUT")
# Lambda's most retries of an asynchronous invocation and its longest event age (stopping a job is
# idempotent), and EventBridge's delivery retries and event age: a job left running costs by the hour.
CLEANUP_RETRIES = 2
CLEANUP_MAX_EVENT_AGE = cdk.Duration.hours(6)
EVENT_DELIVERY_RETRIES = 8
EVENT_MAX_AGE = cdk.Duration.hours(12)


def stop_jobs_of_aborted_runs(
    stack: cdk.Stack,
    *,
    cleanup: WorkflowFunction,
    state_machine: sfn.StateMachine,
    data: RunData,
    notifications: Notifications,
    alarm: bool,
) -> tuple[DeadLetters, events.Rule]:
    """The rule on `state_machine`'s aborted and timed-out executions, invoking `cleanup` with the
    permissions it needs, and the dead-letter queue of both (children of `stack`)."""
    # EventBridge invokes the cleanup asynchronously: a cleanup that fails every retry, or an
    # event EventBridge cannot deliver, is kept in an encrypted queue that raises an alarm.
    failures = DeadLetters(
        stack,
        "CleanupFailures",
        key=data.key,
        topic=notifications.topic,
        what="Stopping the job of an aborted or timed-out run (the cleanup function)",
        alarm=alarm,
    )
    failures.receive_failures_of(cleanup.function, cleanup.role)
    cleanup.alias.configure_async_invoke(retry_attempts=CLEANUP_RETRIES, max_event_age=CLEANUP_MAX_EVENT_AGE)
    _allow_cleanup(stack, cleanup, state_machine, data, notifications)
    rule = events.Rule(
        stack,
        "StopJobsOfAbortedRuns",
        description="An aborted or timed-out training run stops its Bedrock or Mantle job",
        event_pattern=events.EventPattern(
            source=["aws.states"],
            detail_type=["Step Functions Execution Status Change"],
            detail={
                "status": list(CLEANUP_STATUSES),
                "stateMachineArn": [state_machine.state_machine_arn],
            },
        ),
        targets=[
            targets.LambdaFunction(
                cleanup.alias,
                retry_attempts=EVENT_DELIVERY_RETRIES,
                max_event_age=EVENT_MAX_AGE,
                dead_letter_queue=failures.queue,
            )
        ],
    )
    failures.allow_eventbridge_rules_of(stack)
    return failures, rule


def _allow_cleanup(
    stack: cdk.Stack,
    cleanup: WorkflowFunction,
    state_machine: sfn.StateMachine,
    data: RunData,
    notifications: Notifications,
) -> None:
    """Read the run's history, find its job, stop it, and tell the topic."""
    name, name_nag = referenced(stack, state_machine, state_machine.state_machine_name)
    cleanup.allow_wildcard(
        ["states:GetExecutionHistory"],
        arn(stack, "states", f"execution:{name}:*"),
        "Reads the history of the workflow's own executions, whose names are the run names "
        "chosen at run time",
        nag_form=arn(stack, "states", f"execution:{name_nag}:*"),
    )
    cleanup.allow_wildcard(
        ["bedrock:GetModelCustomizationJob", "bedrock:StopModelCustomizationJob"],
        arn(stack, "bedrock", "model-customization-job/*"),
        "Stops the customization job an aborted run started; job ARNs are created by Bedrock at run time",
    )
    # The Mantle start record names the job of a run aborted during its start step.
    data.use_run_files(
        cleanup,
        ["s3:GetObject"],
        "Reads the start record of an aborted Mantle run under jobs/<run name>/; run names are "
        "chosen at run time",
    )
    cleanup.allow(["kms:Decrypt"], [data.key.key_arn])
    use_mantle(cleanup, MANTLE_CANCEL_ACTIONS)
    cleanup.policy.add_statements(*notifications.publish_statements())
