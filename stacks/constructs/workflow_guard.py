"""The health guard inside the watch loops of the training workflow.

    <plane> job status? ─ still running ─▶ Check <plane> training health (Lambda) ─▶ <plane> training healthy?
        ├─ guard.stop   ─▶ Stop/Cancel unhealthy job ─▶ Training unhealthy (failure: the findings as cause)
        ├─ guard.notify ─▶ Notify <plane> training warning (SNS) ─▶ Wait
        └─ otherwise    ─▶ Wait

The guard Lambda (`lambda_workflow/guard.py`, rules in `rft.guard`) answers a small `GuardState`
kept at `$.guard`; the metrics themselves never enter the state. A guard that fails (metrics
unreadable) must not fail the training it watches: its error goes to `$.guard_error` and the loop
waits again.
"""

from __future__ import annotations

from collections.abc import Callable

from aws_cdk import aws_sns as sns
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from rft.guard import initial_state
from rft.workflow_state import GUARD_FIELDS, path
from stacks.constructs.workflow_failures import WorkflowFailures
from stacks.constructs.workflow_function import WorkflowFunction
from stacks.constructs.workflow_states import created_once

TRAINING_UNHEALTHY = "Training unhealthy"


def guard_starts(scope: Construct, plane: str) -> sfn.Pass:
    """`$.guard` before the first look: healthy, nothing notified."""
    return sfn.Pass(
        scope,
        f"{plane}: guard starts",
        result=sfn.Result.from_object(initial_state()),
        result_path=path("guard"),
    )


def guard_check(
    scope: Construct,
    plane: str,
    *,
    function: WorkflowFunction,
    topic: sns.ITopic,
    failures: WorkflowFailures,
    stop_job: Callable[[str], sfn.TaskStateBase],
    then: sfn.IChainable,
) -> sfn.IChainable:
    """Check the run's health, act on the verdict, then continue with `then` (the loop's Wait)."""
    check = function.invoke(
        scope,
        f"Check {plane} training health",
        {
            "plan": sfn.JsonPath.object_at(path("plan")),
            "job_id": sfn.JsonPath.string_at(path("training", "job_id")),
            "guard": sfn.JsonPath.object_at(path("guard")),
        },
        comment="Reads the run's per-step metrics, judges them (rft.health), sends them to CloudWatch",
        result_selector={key: sfn.JsonPath.string_at(f"$.Payload.{key}") for key in GUARD_FIELDS},
        result_path=path("guard"),
    )
    check.add_catch(then, errors=["States.ALL"], result_path=path("guard_error"))

    stop = stop_job(f"Stop unhealthy {plane} job")  # retried and caught by its maker
    stop.next(_unhealthy(scope, failures))
    warn = tasks.SnsPublish(
        scope,
        f"Notify {plane} training warning",
        topic=topic,
        subject=sfn.JsonPath.format("RFT run {}: training health warning", sfn.JsonPath.execution_name),
        message=sfn.TaskInput.from_json_path_at(path("guard", "message")),
        result_path=sfn.JsonPath.DISCARD,
    )
    # A warning that cannot be sent must not end the run it warns about.
    warn.add_catch(then, errors=["States.ALL"], result_path=path("notification_error"))
    warn.next(then)
    verdict = (
        sfn.Choice(scope, f"{plane} training healthy?")
        .when(sfn.Condition.boolean_equals(path("guard", "stop"), True), stop)
        .when(sfn.Condition.boolean_equals(path("guard", "notify"), True), warn)
        .otherwise(then)
    )
    return check.next(verdict)


def _unhealthy(scope: Construct, failures: WorkflowFailures) -> sfn.IChainable:
    return created_once(
        scope,
        TRAINING_UNHEALTHY,
        lambda: failures.failure(
            TRAINING_UNHEALTHY, "Watch", "TrainingUnhealthy", sfn.JsonPath.string_at(path("guard", "cause"))
        ),
    )
