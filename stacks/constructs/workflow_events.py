"""Event-driven completion on the Bedrock plane: between two looks at the job, the workflow waits
for the job's `Model Customization Job State Change` event instead of sleeping.

    Bedrock: wait for the job's event? ─ wait ≥ 1 s ─▶ Wait for Bedrock job event (task token, times
                                       │               out after watch.wait_seconds) ─▶ Get Bedrock job
                                       └ otherwise ──▶ Wait for Bedrock job (a plain poll) ─▶ Get Bedrock job

The token is registered by `lambda_workflow/job_events.py` in the watch table (keyed by job ARN,
encrypted with the data key, items expire); the EventBridge rule on the job's end hands it back
with SendTaskSuccess. Events are best effort: a lost one costs one poll interval (the task times
out and the job is polled), and a registration that fails falls back to the plain wait. Step
Functions needs TimeoutSecondsPath ≥ 1, so a zero wait (tests) always polls.
"""

from __future__ import annotations

from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from rft.workflow_state import path
from stacks.constructs.workflow_function import WorkflowFunction
from stacks.constructs.workflow_states import WAIT_BEDROCK_EVENT, WAIT_FOR_EVENT, WAIT_SECONDS


def wait_for_job_event(
    scope: Construct, *, function: WorkflowFunction, wait: sfn.Wait, get: sfn.IChainable
) -> sfn.IChainable:
    """The state the Bedrock watch loop goes to between looks (`wait` must already lead to `get`)."""
    on_event = function.invoke(
        scope,
        WAIT_BEDROCK_EVENT,
        {
            "action": "register",
            "job_id": sfn.JsonPath.string_at(path("training", "job_id")),
            "token": sfn.JsonPath.task_token,
            "wait_seconds": sfn.JsonPath.number_at(WAIT_SECONDS),
        },
        comment="Registers this wait's task token for the job; the job's end event completes it",
        integration_pattern=sfn.IntegrationPattern.WAIT_FOR_TASK_TOKEN,
        task_timeout=sfn.Timeout.at(WAIT_SECONDS),
        result_path=path("job_event"),
    )
    # No event within the poll interval (lost, or the job still runs): look at the job anyway.
    on_event.add_catch(get, errors=["States.Timeout"], result_path=sfn.JsonPath.DISCARD)
    # The registration itself failed: wait the plain way rather than loop without waiting.
    on_event.add_catch(wait, errors=["States.ALL"], result_path=path("job_event_error"))
    on_event.next(get)
    return (
        sfn.Choice(scope, WAIT_FOR_EVENT)
        .when(sfn.Condition.number_greater_than_equals(WAIT_SECONDS, 1), on_event)
        .otherwise(wait)
    )
