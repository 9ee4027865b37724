"""The training workflow's names (its states, as the console, the execution history and the tests
read them; the "model ready" event), the retry policies of its tasks, and how a state that several
paths reach is created once."""

from __future__ import annotations

from collections.abc import Callable

import aws_cdk as cdk
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from rft.status import BEDROCK_DEPLOYMENT_STATES, DeploymentState, raw_status
from rft.workflow_state import path

MODEL_READY_SOURCE = "rft-stack"
MODEL_READY_DETAIL_TYPE = "RFT Model Ready"
# Longer than the longest time limit a request may ask for (30 days, rft.jobs.WATCH_LIMITS) plus a
# deployment: the execution-level backstop. A run that hits it is TIMED_OUT and its job is
# stopped by the cleanup rule.
STATE_MACHINE_TIMEOUT = cdk.Duration.days(32)

# The state names (the console, the execution history and the tests read them).
VALIDATE = "Validate request"
REQUEST_VALID = "Request valid?"
REQUEST_REJECTED = "Request rejected"
VALIDATE_ONLY = "Validate only?"
VALIDATED_ONLY = "Validated only"
WHICH_PLANE = "Which control plane?"
HAS_VALIDATION_DATA = "Validation data given?"
START_BEDROCK = "Start Bedrock job"
START_BEDROCK_WITH_VALIDATION = "Start Bedrock job with validation data"
START_MANTLE = "Start Mantle job"
WAIT_BEDROCK = "Wait for Bedrock job"
WAIT_FOR_EVENT = "Bedrock: wait for the job's event?"
WAIT_BEDROCK_EVENT = "Wait for Bedrock job event"
GET_BEDROCK = "Get Bedrock job"
BEDROCK_STATUS = "Bedrock job status?"
WAIT_MANTLE = "Wait for Mantle job"
GET_MANTLE = "Get Mantle job"
MANTLE_STATUS = "Mantle job status?"
STOP_BEDROCK = "Stop Bedrock job"
CANCEL_MANTLE = "Cancel Mantle job"
TIME_LIMIT_REACHED = "Time limit reached"
BEDROCK_FAILED = "Bedrock job failed"
BEDROCK_STOPPED = "Bedrock job stopped"
MANTLE_FAILED = "Mantle job failed"
MANTLE_STOPPED = "Mantle job stopped"
SERVE = "Deploy the model?"
CREATE_DEPLOYMENT = "Create deployment"
WAIT_DEPLOYMENT = "Wait for deployment"
GET_DEPLOYMENT = "Get deployment"
DEPLOYMENT_STATUS = "Deployment status?"
DEPLOYMENT_FAILED = "Deployment failed"
DEPLOYMENT_TIME_LIMIT = "Deployment time limit reached"
PUBLISH = "Publish model record"
ANNOUNCE = "Announce model ready"
NOTIFY_READY = "Notify model ready"
SUCCEEDED = "Succeeded"
NOTIFY_FAILURE = "Notify failure"
FAILED = "Failed"
DEPLOYMENT_ACTIVE = raw_status(BEDROCK_DEPLOYMENT_STATES, DeploymentState.ACTIVE)
DEPLOYMENT_FAILED_STATUS = raw_status(BEDROCK_DEPLOYMENT_STATES, DeploymentState.FAILED)
WAIT_SECONDS = path("watch", "wait_seconds")
MAX_WAIT_SECONDS = path("watch", "max_wait_seconds")
PAST_DEADLINE = ("$$.State.EnteredTime", path("watch", "deadline"))

# Errors worth retrying (with full jitter): throttling and the service's own transient failures,
# named as Step Functions names the operations' error shapes (every one of the five Bedrock
# operations the workflow calls lists both; tests/contract checks each Retry against botocore).
BEDROCK_TRANSIENT_ERRORS = (
    "Bedrock.ThrottlingException",
    "Bedrock.InternalServerException",
)
MANTLE_TRANSIENT_ERRORS = ("MantleRetryableError",)


def _jittered_retry(errors: tuple[str, ...], max_attempts: int) -> sfn.RetryProps:
    """5 s doubling to at most 2 minutes, full jitter (callers retrying together spread out)."""
    return sfn.RetryProps(
        errors=list(errors),
        interval=cdk.Duration.seconds(5),
        backoff_rate=2.0,
        max_attempts=max_attempts,
        max_delay=cdk.Duration.minutes(2),
        jitter_strategy=sfn.JitterType.FULL,
    )


BEDROCK_RETRY = _jittered_retry(BEDROCK_TRANSIENT_ERRORS, max_attempts=8)
MANTLE_RETRY = _jittered_retry(MANTLE_TRANSIENT_ERRORS, max_attempts=6)


def add_retry(task: sfn.TaskStateBase, props: sfn.RetryProps) -> None:
    """Retries `task` as `props` says (`add_retry` takes the fields of a `RetryProps` one by one)."""
    task.add_retry(
        errors=props.errors,
        interval=props.interval,
        backoff_rate=props.backoff_rate,
        max_attempts=props.max_attempts,
        max_delay=props.max_delay,
        jitter_strategy=props.jitter_strategy,
    )


def created_once(scope: Construct, name: str, create: Callable[[], sfn.IChainable]) -> sfn.IChainable:
    """The state `name` of `scope`: made by `create` (whose chain starts with it) the first time it
    is asked for, the same state every later time (a state id may occur once in a state machine)."""
    existing = scope.node.try_find_child(name)
    if isinstance(existing, sfn.State):
        return existing
    return create()
