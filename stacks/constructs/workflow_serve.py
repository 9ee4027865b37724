"""Step 4 of the Bedrock plane: make the trained model callable through an on-demand custom model
deployment (CreateCustomModelDeployment ⟲ until Active), or go straight to publishing when the run
asks for no deployment."""

from __future__ import annotations

from collections.abc import Callable

from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from rft.workflow_state import path
from stacks.constructs.workflow_failures import WorkflowFailures
from stacks.constructs.workflow_polling import poll_until
from stacks.constructs.workflow_states import (
    CREATE_DEPLOYMENT,
    DEPLOYMENT_ACTIVE,
    DEPLOYMENT_FAILED,
    DEPLOYMENT_FAILED_STATUS,
    DEPLOYMENT_STATUS,
    DEPLOYMENT_TIME_LIMIT,
    GET_DEPLOYMENT,
    SERVE,
    WAIT_DEPLOYMENT,
)


def serve_model(
    scope: Construct,
    *,
    call: Callable[..., tasks.CallAwsService],
    failures: WorkflowFailures,
    custom_model_arns: str,
    deployment_arns: str,
    publish: sfn.IChainable,
) -> sfn.IChainable:
    """`Deploy the model?` ─▶ Create deployment ⟲ Wait/Get/status ─▶ `publish`; `call` makes a
    retried, caught Bedrock SDK task (TrainingWorkflow._bedrock_call)."""
    deployment = path("plan", "bedrock", "create_deployment")
    create = call(
        CREATE_DEPLOYMENT,
        "createCustomModelDeployment",
        {
            "ModelDeploymentName": sfn.JsonPath.string_at(f"{deployment}.ModelDeploymentName"),
            "ModelArn": sfn.JsonPath.string_at(path("bedrock_job", "OutputModelArn")),
            "Description": sfn.JsonPath.string_at(f"{deployment}.Description"),
            "Tags": sfn.JsonPath.list_at(f"{deployment}.Tags"),
            "ClientRequestToken": sfn.JsonPath.string_at(f"{deployment}.ClientRequestToken"),
        },
        "Serve",
        # Authorized on the custom model (IAM service reference); the new deployment is covered by
        # the tagging grant, for the tags it is created with.
        [custom_model_arns],
        comment="An on-demand custom model deployment: its ARN is the model id to invoke",
        tags=[deployment_arns],
        result_selector={"arn": sfn.JsonPath.string_at("$.CustomModelDeploymentArn")},
        result_path=path("deployment"),
    )
    wait = sfn.Wait(
        scope, WAIT_DEPLOYMENT, time=sfn.WaitTime.seconds_path(path("plan", "watch", "first_wait_seconds"))
    )
    get = call(
        GET_DEPLOYMENT,
        "getCustomModelDeployment",
        {"CustomModelDeploymentIdentifier": sfn.JsonPath.string_at(path("deployment", "arn"))},
        "Serve",
        [deployment_arns],
        result_path=path("deployment_status"),
    )
    failed = failures.failure_with_message(
        DEPLOYMENT_FAILED,
        "Serve",
        "DeploymentFailed",
        what="Deployment",
        subject=path("deployment", "arn"),
        message_path=path("deployment_status", "FailureMessage"),
    )
    too_late = failures.failure(
        DEPLOYMENT_TIME_LIMIT,
        "Serve",
        "TimeLimitExceeded",
        sfn.JsonPath.format(
            "Deployment {} was not Active within the time limit; the trained model is {}.",
            sfn.JsonPath.string_at(path("deployment", "arn")),
            sfn.JsonPath.string_at(path("bedrock_job", "OutputModelArn")),
        ),
    )
    status = poll_until(
        scope,
        DEPLOYMENT_STATUS,
        wait=wait,
        status_path=path("deployment_status", "Status"),
        outcomes=[(DEPLOYMENT_ACTIVE, publish), (DEPLOYMENT_FAILED_STATUS, failed)],
        on_time_limit=too_late,
    )
    create.next(wait).next(get).next(status)
    return (
        sfn.Choice(scope, SERVE)
        .when(sfn.Condition.boolean_equals(path("plan", "deploy"), True), create)
        .otherwise(publish)
    )
