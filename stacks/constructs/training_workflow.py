"""The training workflow: one Standard state machine that takes a job request to a callable model.

    Validate request ─▶ Which control plane? ─┬─ bedrock: Start Bedrock job ⟲ Wait/Get/status ─▶ Serve ⟲ ─┐
                                              └─ mantle:  Start Mantle job  ⟲ Wait/Get/status ──────────────┤
    Publish model record ◀───────────────────────────────────────────────────────────────────────────────┘
      ─▶ Announce model ready (EventBridge) ─▶ Notify model ready (SNS) ─▶ Succeeded
    any failure ─▶ <Step> step failed ─▶ Notify failure (SNS) ─▶ Failed
    a valid request with `validate_only` ─▶ Validated only (succeeds before anything starts)

The state is plain JSON (JSONPath, never JSONata), typed in `rft.workflow_state`: every JSONPath here
is built with its `path()`, which fails synth on a key the document does not have, and the Lambdas
and the CLI read the document with the same names. `Validate request` replaces the input with
`{"valid", "plan", "dataset", "watch"}`: `plan` is `rft.job_plan.plan_job` (the Bedrock calls'
parameters in PascalCase), `watch` is `{"wait_seconds", "max_wait_seconds", "deadline"}` (the
polling loops: `workflow_polling.py`). Results land under `training` (the job
id), `bedrock_job` / `mantle_job` (the last status), `deployment`, `deployment_status`,
`published`, and `failure` (`{"step", "error", "cause"}`) on the way to `Failed`.

Bedrock-plane calls are AWS SDK tasks (visible in the console, no code); Lambda is used where logic
is needed: validation, the Mantle (OpenAI-compatible) plane and the model record.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from rft.status import BEDROCK_JOB_STATES, JobState, raw_status
from rft.workflow_state import MANTLE_JOB_FIELDS, path
from stacks.constructs.bedrock_service_role import allow_to_start_jobs
from stacks.constructs.log_retention import encrypted_log_group
from stacks.constructs.workflow_events import wait_for_job_event
from stacks.constructs.workflow_failures import WorkflowFailures
from stacks.constructs.workflow_function import WorkflowFunction
from stacks.constructs.workflow_guard import guard_check, guard_starts
from stacks.constructs.workflow_polling import poll_until
from stacks.constructs.workflow_publish import publish_model
from stacks.constructs.workflow_serve import serve_model
from stacks.constructs.workflow_states import (
    BEDROCK_FAILED,
    BEDROCK_RETRY,
    BEDROCK_STATUS,
    BEDROCK_STOPPED,
    CANCEL_MANTLE,
    GET_BEDROCK,
    GET_MANTLE,
    HAS_VALIDATION_DATA,
    MANTLE_FAILED,
    MANTLE_RETRY,
    MANTLE_STATUS,
    MANTLE_STOPPED,
    PUBLISH,
    REQUEST_REJECTED,
    REQUEST_VALID,
    START_BEDROCK,
    START_BEDROCK_WITH_VALIDATION,
    START_MANTLE,
    STATE_MACHINE_TIMEOUT,
    STOP_BEDROCK,
    VALIDATE,
    VALIDATE_ONLY,
    VALIDATED_ONLY,
    WAIT_BEDROCK,
    WAIT_MANTLE,
    WAIT_SECONDS,
    WHICH_PLANE,
    add_retry,
    created_once,
)
from stacks.security import arn

# --- The state machine ---------------------------------------------------------------------------


# keyword-only: the five fields share one type, so a swapped positional argument would type-check.
@dataclass(frozen=True, kw_only=True)
class WorkflowSteps:
    """The Lambda steps the state machine invokes (their `live` aliases)."""

    validate: WorkflowFunction
    mantle: WorkflowFunction
    publish: WorkflowFunction
    guard: WorkflowFunction
    job_events: WorkflowFunction


class TrainingWorkflow(Construct):
    """The Standard state machine (logging ALL to its own log group, X-Ray tracing) and its role."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        steps: WorkflowSteps,
        service_role: iam.IRole,
        data_key: kms.IKey,
        topic: sns.ITopic,
        bedrock_base_models: Sequence[str],
        log_retention_days: int,
        retain_logs: bool,
    ) -> None:
        super().__init__(scope, construct_id)
        self._steps = steps
        self._service_role = service_role
        self._data_key = data_key
        self._topic = topic
        self._foundation_models = [
            arn(self, "bedrock", f"foundation-model/{model_id}", account=False)
            for model_id in dict.fromkeys(bedrock_base_models)
        ]
        self._job_arns = arn(self, "bedrock", "model-customization-job/*")
        self._custom_model_arns = arn(self, "bedrock", "custom-model/*")
        self._deployment_arns = arn(self, "bedrock", "custom-model-deployment/*")

        self.log_group = encrypted_log_group(
            self, "Logs", retention=log_retention_days, retain=retain_logs, key=data_key
        )
        self._failures = WorkflowFailures(self, topic)
        self.state_machine = sfn.StateMachine(
            self,
            "StateMachine",
            comment="rft-stack: validate, start, watch, serve and publish one RFT job",
            definition_body=sfn.DefinitionBody.from_chainable(self._definition()),
            state_machine_type=sfn.StateMachineType.STANDARD,
            timeout=STATE_MACHINE_TIMEOUT,
            tracing_enabled=True,
            logs=sfn.LogOptions(
                destination=self.log_group, level=sfn.LogLevel.ALL, include_execution_data=True
            ),
        )
        allow_to_start_jobs(self.state_machine.role, service_role=service_role, data_key=data_key)

    # --- definition ------------------------------------------------------------------------------

    def _definition(self) -> sfn.IChainable:
        validate = self._steps.validate.invoke(
            self,
            VALIDATE,
            {
                "request": sfn.JsonPath.entire_payload,
                "execution_name": sfn.JsonPath.execution_name,
                "execution_arn": sfn.JsonPath.execution_id,
                "started_at": sfn.JsonPath.execution_start_time,
            },
            comment="Checks the request and streams the dataset from S3; nothing is spent before this passes",
            output_path="$.Payload",
        )
        self._failures.catch(validate, "Validate")
        rejected = sfn.Pass(
            self,
            REQUEST_REJECTED,
            parameters={"step": "Validate", "error.$": path("error"), "cause.$": path("cause")},
            result_path=path("failure"),
        ).next(self._failures.notify())

        bedrock = self._bedrock_branch()
        mantle = self._mantle_branch()
        plane = (
            sfn.Choice(self, WHICH_PLANE)
            .when(sfn.Condition.string_equals(path("plan", "provider"), "bedrock"), bedrock)
            .otherwise(mantle)
        )
        # A request that only validates (rft doctor's canary) ends here: no job, nothing billed.
        validate_only = (
            sfn.Choice(self, VALIDATE_ONLY)
            .when(
                sfn.Condition.and_(
                    sfn.Condition.is_present(path("plan", "validate_only")),
                    sfn.Condition.boolean_equals(path("plan", "validate_only"), True),
                ),
                sfn.Succeed(
                    self, VALIDATED_ONLY, comment="The request and its data are valid; nothing started"
                ),
            )
            .otherwise(plane)
        )
        return validate.next(
            sfn.Choice(self, REQUEST_VALID)
            .when(sfn.Condition.boolean_equals(path("valid"), True), validate_only)
            .otherwise(rejected)
        )

    def _bedrock_branch(self) -> sfn.IChainable:
        wait = sfn.Wait(self, WAIT_BEDROCK, time=sfn.WaitTime.seconds_path(WAIT_SECONDS))
        start_plain = self._start_bedrock(START_BEDROCK, with_validation=False)
        start_validated = self._start_bedrock(START_BEDROCK_WITH_VALIDATION, with_validation=True)
        start = (
            sfn.Choice(self, HAS_VALIDATION_DATA)
            .when(
                sfn.Condition.is_present(path("plan", "bedrock", "create_job", "ValidationDataConfig")),
                start_validated,
            )
            .otherwise(start_plain)
        )
        job = {"JobIdentifier": sfn.JsonPath.string_at(path("training", "job_id"))}
        get = self._bedrock_call(
            GET_BEDROCK,
            "getModelCustomizationJob",
            job,
            "Watch",
            [self._job_arns],
            result_path=path("bedrock_job"),
        )
        wait.next(get)
        # Between looks: the job's end event, or the poll interval, whichever comes first.
        waiting = wait_for_job_event(self, function=self._steps.job_events, wait=wait, get=get)
        guard_start = guard_starts(self, "Bedrock").next(waiting)
        start_plain.next(guard_start)
        start_validated.next(guard_start)
        stop = self._bedrock_call(
            STOP_BEDROCK,
            "stopModelCustomizationJob",
            job,
            "Watch",
            [self._job_arns],
            comment="The overall time limit passed: stop the job so it stops spending",
        )
        stop.next(self._failures.time_limit_reached())

        failed = self._failures.job_failed(
            BEDROCK_FAILED, "Bedrock", path("bedrock_job", "FailureMessage"), message_optional=True
        )
        unhealthy = "The health guard judged the run unhealthy: stop the job so it stops spending"
        status = self._job_status(
            "Bedrock",
            BEDROCK_STATUS,
            path("bedrock_job", "Status"),
            outcomes=[
                (raw_status(BEDROCK_JOB_STATES, JobState.SUCCEEDED), self._serve()),
                (raw_status(BEDROCK_JOB_STATES, JobState.FAILED), failed),
                (
                    raw_status(BEDROCK_JOB_STATES, JobState.STOPPED),
                    self._failures.job_stopped(BEDROCK_STOPPED, "Bedrock", "stopped"),
                ),
            ],
            stop_job=lambda name: self._bedrock_call(
                name, "stopModelCustomizationJob", job, "Watch", [self._job_arns], comment=unhealthy
            ),
            on_time_limit=stop,
            then=waiting,
        )
        get.next(status)
        return start

    def _start_bedrock(self, name: str, *, with_validation: bool) -> tasks.CallAwsService:
        job = path("plan", "bedrock", "create_job")
        parameters: dict[str, object] = {
            "JobName": sfn.JsonPath.string_at(f"{job}.JobName"),
            "CustomModelName": sfn.JsonPath.string_at(f"{job}.CustomModelName"),
            "RoleArn": self._service_role.role_arn,
            "ClientRequestToken": sfn.JsonPath.string_at(f"{job}.ClientRequestToken"),
            "BaseModelIdentifier": sfn.JsonPath.string_at(f"{job}.BaseModelIdentifier"),
            "CustomizationType": "REINFORCEMENT_FINE_TUNING",
            "TrainingDataConfig": {"S3Uri": sfn.JsonPath.string_at(path("plan", "training_data"))},
            "OutputDataConfig": {"S3Uri": sfn.JsonPath.string_at(path("plan", "output_s3_uri"))},
            "CustomizationConfig": {
                "RftConfig": {
                    "GraderConfig": {
                        "LambdaGrader": {"LambdaArn": sfn.JsonPath.string_at(path("plan", "grader_arn"))}
                    },
                    "HyperParameters": sfn.JsonPath.object_at(
                        f"{job}.CustomizationConfig.RftConfig.HyperParameters"
                    ),
                }
            },
            "CustomModelKmsKeyId": self._data_key.key_arn,
            "JobTags": sfn.JsonPath.list_at(f"{job}.JobTags"),
            "CustomModelTags": sfn.JsonPath.list_at(f"{job}.CustomModelTags"),
        }
        if with_validation:
            parameters["ValidationDataConfig"] = {
                "Validators": [{"S3Uri": sfn.JsonPath.string_at(path("plan", "validation_data"))}]
            }
        return self._bedrock_call(
            name,
            "createModelCustomizationJob",
            parameters,
            "Start",
            # Authorized on the custom model it creates and the base model (IAM service reference);
            # the job itself is covered by the tagging grant, for the tags it is created with.
            [self._custom_model_arns, *self._foundation_models],
            comment="CreateModelCustomizationJob (RFT); the request token makes a retried call idempotent",
            tags=[self._job_arns, self._custom_model_arns],
            result_selector={"job_id": sfn.JsonPath.string_at("$.JobArn"), "provider": "bedrock"},
            result_path=path("training"),
        )

    def _mantle_branch(self) -> sfn.IChainable:
        start = self._mantle_call(
            START_MANTLE,
            "start",
            "Start",
            comment="Uploads the training file, creates the reinforcement job (openai SDK, no stored secret)",
            result_selector={
                "job_id": sfn.JsonPath.string_at("$.Payload.id"),
                "status": sfn.JsonPath.string_at("$.Payload.status"),
                "provider": "mantle",
            },
            result_path=path("training"),
        )
        wait = sfn.Wait(self, WAIT_MANTLE, time=sfn.WaitTime.seconds_path(WAIT_SECONDS))
        get = self._mantle_call(
            GET_MANTLE,
            "status",
            "Watch",
            comment="Job status; appends the per-step training metrics to the artifacts bucket",
            result_selector={key: sfn.JsonPath.string_at(f"$.Payload.{key}") for key in MANTLE_JOB_FIELDS},
            result_path=path("mantle_job"),
        )
        cancel = self._mantle_call(
            CANCEL_MANTLE,
            "cancel",
            "Watch",
            comment="The overall time limit passed: cancel the job so it stops spending",
        )
        cancel.next(self._failures.time_limit_reached())

        failed = self._failures.job_failed(MANTLE_FAILED, "Mantle", path("mantle_job", "failure_message"))
        unhealthy = "The health guard judged the run unhealthy: cancel the job so it stops spending"
        status = self._job_status(
            "Mantle",
            MANTLE_STATUS,
            path("mantle_job", "state"),
            outcomes=[
                (JobState.SUCCEEDED.value, self._publish()),
                (JobState.FAILED.value, failed),
                (JobState.STOPPED.value, self._failures.job_stopped(MANTLE_STOPPED, "Mantle", "cancelled")),
            ],
            stop_job=lambda name: self._mantle_call(name, "cancel", "Watch", comment=unhealthy),
            on_time_limit=cancel,
            then=wait,
        )
        start.next(guard_starts(self, "Mantle")).next(wait)
        wait.next(get).next(status)
        return start

    def _serve(self) -> sfn.IChainable:
        return serve_model(
            self,
            call=self._bedrock_call,
            failures=self._failures,
            custom_model_arns=self._custom_model_arns,
            deployment_arns=self._deployment_arns,
            publish=self._publish(),
        )

    def _job_status(
        self,
        plane: str,
        name: str,
        status_path: str,
        *,
        outcomes: Sequence[tuple[str, sfn.IChainable]],
        stop_job: Callable[[str], sfn.TaskStateBase],
        on_time_limit: sfn.IChainable,
        then: sfn.IChainable,
    ) -> sfn.Choice:
        """The watch loop's `<plane> job status?`: ends on a status of `outcomes` or the deadline;
        a job still running has its health checked (`stop_job` stops an unhealthy one), its wait
        doubled, and goes on to `then` (the loop's wait)."""
        guard = guard_check(
            self,
            plane,
            function=self._steps.guard,
            topic=self._topic,
            failures=self._failures,
            stop_job=stop_job,
            then=then,
        )
        return poll_until(
            self,
            name,
            wait=guard,
            status_path=status_path,
            outcomes=outcomes,
            on_time_limit=on_time_limit,
            backoff=plane,
        )

    # --- tasks -----------------------------------------------------------------------------------

    def _bedrock_call(
        self,
        name: str,
        action: str,
        parameters: Mapping[str, object],
        step: str,
        resources: Sequence[str],
        *,
        comment: str | None = None,
        tags: Sequence[str] = (),
        result_selector: Mapping[str, object] | None = None,
        result_path: str = sfn.JsonPath.DISCARD,
    ) -> tasks.CallAwsService:
        """An AWS SDK task of the Bedrock API, retried on Bedrock's transient errors and caught as a
        failure of `step`; `tags` are the resources the call may tag on creation."""
        task = tasks.CallAwsService(
            self,
            name,
            comment=comment,
            service="bedrock",
            action=action,
            parameters=dict(parameters),
            iam_action=f"bedrock:{action[:1].upper()}{action[1:]}",
            iam_resources=list(resources),
            additional_iam_statements=(
                [iam.PolicyStatement(actions=["bedrock:TagResource"], resources=list(tags))] if tags else None
            ),
            result_selector=dict(result_selector) if result_selector else None,
            result_path=result_path,
        )
        add_retry(task, BEDROCK_RETRY)
        self._failures.catch(task, step)
        return task

    def _mantle_call(
        self,
        name: str,
        action: str,
        step: str,
        *,
        comment: str,
        result_selector: Mapping[str, object] | None = None,
        result_path: str = sfn.JsonPath.DISCARD,
    ) -> tasks.LambdaInvoke:
        """An action of the Mantle step (start, status, cancel) on this run's plan and job,
        retried on Mantle's transient errors and caught as a failure of `step`."""
        payload: dict[str, object] = {"action": action, "plan": sfn.JsonPath.object_at(path("plan"))}
        if action != "start":
            payload = {
                "action": action,
                "job_id": sfn.JsonPath.string_at(path("training", "job_id")),
                "plan": payload["plan"],
            }
        task = self._steps.mantle.invoke(
            self, name, payload, comment=comment, result_selector=result_selector, result_path=result_path
        )
        add_retry(task, MANTLE_RETRY)
        self._failures.catch(task, step)
        return task

    def _publish(self) -> sfn.IChainable:
        """Step 5, reached from both planes: created once."""
        steps, topic, failures = self._steps, self._topic, self._failures
        return created_once(
            self, PUBLISH, lambda: publish_model(self, function=steps.publish, topic=topic, failures=failures)
        )
