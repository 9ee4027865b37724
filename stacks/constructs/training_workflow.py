"""The training workflow: one Standard state machine that takes a job request to a callable model.

    Validate request ─▶ Which control plane? ─┬─ bedrock: Start Bedrock job ⟲ Wait/Get/status ─▶ Serve ⟲ ─┐
                                              └─ mantle:  Start Mantle job  ⟲ Wait/Get/status ──────────────┤
    Publish model record ◀───────────────────────────────────────────────────────────────────────────────┘
      ─▶ Announce model ready (EventBridge) ─▶ Notify model ready (SNS) ─▶ Succeeded
    any failure ─▶ <Step> step failed ─▶ Notify failure (SNS) ─▶ Failed

The state is plain JSON (JSONPath, never JSONata), typed in `rft.workflow_state`: every JSONPath here
is built with its `path()`, which fails synth on a key the document does not have, and the Lambdas
and the CLI read the document with the same names. `Validate request` replaces the input with
`{"valid", "plan", "dataset", "watch"}`: `plan` is `rft.jobs.plan_job` (the Bedrock calls'
parameters in PascalCase), `watch` is `{"wait_seconds", "max_wait_seconds", "deadline"}`. Each watch
loop doubles `wait_seconds` (States.MathAdd of it with itself) up to `max_wait_seconds`, and
compares the Choice state's entry time with `deadline` for the overall time limit; every Wait takes
its seconds from the state, so tests run with zero waits. Results land under `training` (the job
id), `bedrock_job` / `mantle_job` (the last status), `deployment`, `deployment_status`,
`published`, and `failure` (`{"step", "error", "cause"}`) on the way to `Failed`.

Bedrock-plane calls are AWS SDK tasks (visible in the console, no code); Lambda is used where logic
is needed: validation, the Mantle (OpenAI-compatible) plane and the model record.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from rft.names import ARTIFACTS_PREFIX, LIVE_ALIAS
from rft.status import BEDROCK_DEPLOYMENT_STATES, BEDROCK_JOB_STATES, DeploymentState, JobState, raw_status
from rft.workflow_state import MANTLE_JOB_FIELDS, STEPS, path
from stacks.constructs.bundle_manifest import package_manifest
from stacks.constructs.log_retention import retention_days
from stacks.constructs.python_function import BundledPythonFunction
from stacks.security import acknowledge_wildcard, arn, referenced

# --- Names other parts rely on --------------------------------------------------------------------

MODEL_READY_SOURCE = "rft-stack"
MODEL_READY_DETAIL_TYPE = "RFT Model Ready"
# The workflow's handlers and the modules of rft/ they import (never the client: rft/cli...).
WORKFLOW_SOURCES = package_manifest("lambda_workflow")
WORKFLOW_REQUIREMENTS = "lambda_workflow/requirements.txt"
# Longer than the longest time limit a request may ask for (30 days, rft.jobs.WATCH_LIMITS) plus a
# deployment: the execution-level backstop. A run that hits it is TIMED_OUT and its job is
# stopped by the cleanup rule.
STATE_MACHINE_TIMEOUT = cdk.Duration.days(32)

# The state names (the console, the execution history and the tests read them).
VALIDATE = "Validate request"
REQUEST_VALID = "Request valid?"
REQUEST_REJECTED = "Request rejected"
WHICH_PLANE = "Which control plane?"
HAS_VALIDATION_DATA = "Validation data given?"
START_BEDROCK = "Start Bedrock job"
START_BEDROCK_WITH_VALIDATION = "Start Bedrock job with validation data"
START_MANTLE = "Start Mantle job"
WAIT_BEDROCK = "Wait for Bedrock job"
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

# Errors worth retrying (with full jitter): throttling and the service's own transient failures.
BEDROCK_TRANSIENT_ERRORS = (
    "Bedrock.ThrottlingException",
    "Bedrock.InternalServerException",
    "Bedrock.ServiceUnavailableException",
)
MANTLE_TRANSIENT_ERRORS = ("MantleRetryableError",)
BEDROCK_RETRY = sfn.RetryProps(
    errors=list(BEDROCK_TRANSIENT_ERRORS),
    interval=cdk.Duration.seconds(5),
    backoff_rate=2.0,
    max_attempts=8,
    max_delay=cdk.Duration.minutes(2),
    jitter_strategy=sfn.JitterType.FULL,
)
MANTLE_RETRY = sfn.RetryProps(
    errors=list(MANTLE_TRANSIENT_ERRORS),
    interval=cdk.Duration.seconds(5),
    backoff_rate=2.0,
    max_attempts=6,
    max_delay=cdk.Duration.minutes(2),
    jitter_strategy=sfn.JitterType.FULL,
)


# --- The workflow's Lambda functions --------------------------------------------------------------


class WorkflowFunction(Construct):
    """A handler of `lambda_workflow/` (bundled with `rft/`) behind a `live` alias.

    The role writes only to the function's own log group (the managed AWSLambdaBasicExecutionRole,
    which allows every log group, is removed); `allow` adds statements to one named policy.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        handler: str,
        description: str,
        log_retention_days: int,
        retain_logs: bool,
        environment: Mapping[str, str],
        timeout: cdk.Duration,
        memory_size: int = 512,
    ) -> None:
        super().__init__(scope, construct_id)
        bundled = BundledPythonFunction(
            self,
            "Bundled",
            sources=list(WORKFLOW_SOURCES),
            handler=f"lambda_workflow.{handler}",
            requirements=WORKFLOW_REQUIREMENTS,
            description=description,
            log_retention_days=log_retention_days,
            retain_logs=retain_logs,
            memory_size=memory_size,
            timeout=timeout,
            environment=environment,
        )
        self.function: lambda_.Function = bundled.function
        self.log_group: logs.ILogGroup = bundled.log_group
        self.timeout = timeout
        self.role: iam.IRole = bundled.role
        self.alias = lambda_.Alias(
            self,
            "Live",
            alias_name=LIVE_ALIAS,
            version=self.function.current_version,
            description=description,
        )
        self._policy: iam.Policy | None = None

    @property
    def policy(self) -> iam.Policy:
        """The function's own permissions (created on first use: a policy needs a statement)."""
        if self._policy is None:
            self._policy = iam.Policy(self, "Permissions", roles=[self.role])
        return self._policy

    def allow(
        self, actions: Sequence[str], resources: Sequence[str], conditions: Mapping[str, object] | None = None
    ) -> None:
        self.policy.add_statements(
            iam.PolicyStatement(actions=list(actions), resources=list(resources), conditions=conditions)
        )


# --- The Bedrock service role --------------------------------------------------------------------


class BedrockServiceRole(Construct):
    """The role a customization job runs as (`roleArn`): reads the datasets, writes the run's
    outputs, uses the data key and invokes the graders' `live` aliases, nothing else."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        datasets_bucket: s3.IBucket,
        artifacts_bucket: s3.IBucket,
        data_key: kms.IKey,
        grader_alias_arns: Sequence[str],
    ) -> None:
        super().__init__(scope, construct_id)
        stack = cdk.Stack.of(self)
        self.role = iam.Role(
            self,
            "Role",
            description="rft-stack: the role Bedrock model customization jobs run as",
            assumed_by=iam.ServicePrincipal(
                "bedrock.amazonaws.com",
                conditions={
                    "StringEquals": {"aws:SourceAccount": stack.account},
                    "ArnLike": {"aws:SourceArn": arn(self, "bedrock", "model-customization-job/*")},
                },
            ),
        )
        datasets_arn, datasets_nag = referenced(self, datasets_bucket, datasets_bucket.bucket_arn)
        artifacts_arn, artifacts_nag = referenced(self, artifacts_bucket, artifacts_bucket.bucket_arn)
        statements = [
            iam.PolicyStatement(
                sid="ReadDatasets",
                actions=["s3:GetObject", "s3:ListBucket"],
                resources=[datasets_arn, f"{datasets_arn}/*"],
            ),
            iam.PolicyStatement(
                sid="WriteRunOutputs",
                actions=["s3:GetObject", "s3:PutObject"],
                resources=[f"{artifacts_arn}/{ARTIFACTS_PREFIX}/*"],
            ),
            iam.PolicyStatement(
                sid="ListRunOutputs",
                actions=["s3:ListBucket"],
                resources=[artifacts_arn],
                conditions={"StringLike": {"s3:prefix": [f"{ARTIFACTS_PREFIX}/*"]}},
            ),
            iam.PolicyStatement(
                sid="UseDataKey",
                actions=["kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey"],
                resources=[data_key.key_arn],
            ),
        ]
        if grader_alias_arns:
            statements.append(
                iam.PolicyStatement(
                    sid="InvokeGraders", actions=["lambda:InvokeFunction"], resources=list(grader_alias_arns)
                )
            )
        self.policy = iam.Policy(self, "Permissions", statements=statements, roles=[self.role])
        acknowledge_wildcard(
            self.policy,
            f"{datasets_nag}/*",
            "Bedrock reads the training and validation files a run names; dataset keys are chosen "
            "at upload time (content-hashed), so the datasets bucket's objects are the resource",
        )
        acknowledge_wildcard(
            self.policy,
            f"{artifacts_nag}/{ARTIFACTS_PREFIX}/*",
            f"Bedrock writes each run's outputs under {ARTIFACTS_PREFIX}/<run name>/ with keys it "
            f"chooses; limited to the {ARTIFACTS_PREFIX}/ prefix of the artifacts bucket",
        )


# --- The state machine ---------------------------------------------------------------------------


@dataclass(frozen=True)
class WorkflowSteps:
    """The Lambda steps the state machine invokes (their `live` aliases)."""

    validate: WorkflowFunction
    mantle: WorkflowFunction
    publish: WorkflowFunction


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
        allowed_base_models: Sequence[str],
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
            for model_id in dict.fromkeys(allowed_base_models)
        ]
        self._job_arns = arn(self, "bedrock", "model-customization-job/*")
        self._custom_model_arns = arn(self, "bedrock", "custom-model/*")
        self._deployment_arns = arn(self, "bedrock", "custom-model-deployment/*")

        self.log_group = logs.LogGroup(
            self,
            "Logs",
            retention=retention_days(log_retention_days),
            removal_policy=cdk.RemovalPolicy.RETAIN if retain_logs else cdk.RemovalPolicy.DESTROY,
        )
        self._caught = {step: self._step_failed(step) for step in STEPS}
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
        self._grant_bedrock()

    # --- definition ------------------------------------------------------------------------------

    def _definition(self) -> sfn.IChainable:
        validate = tasks.LambdaInvoke(
            self,
            VALIDATE,
            comment="Checks the request and streams the dataset from S3; nothing is spent before this passes",
            lambda_function=self._steps.validate.alias,
            payload=sfn.TaskInput.from_object(
                {
                    "request": sfn.JsonPath.entire_payload,
                    "execution_name": sfn.JsonPath.execution_name,
                    "execution_arn": sfn.JsonPath.execution_id,
                    "started_at": sfn.JsonPath.execution_start_time,
                }
            ),
            output_path="$.Payload",
            task_timeout=self._task_timeout(self._steps.validate),
        )
        self._catch(validate, "Validate")
        rejected = sfn.Pass(
            self,
            REQUEST_REJECTED,
            parameters={"step": "Validate", "error.$": path("error"), "cause.$": path("cause")},
            result_path=path("failure"),
        ).next(self._notify_failure())

        bedrock = self._bedrock_branch()
        mantle = self._mantle_branch()
        plane = (
            sfn.Choice(self, WHICH_PLANE)
            .when(sfn.Condition.string_equals(path("plan", "provider"), "bedrock"), bedrock)
            .otherwise(mantle)
        )
        return validate.next(
            sfn.Choice(self, REQUEST_VALID)
            .when(sfn.Condition.boolean_equals(path("valid"), True), plane)
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
        start_plain.next(wait)
        start_validated.next(wait)

        get = tasks.CallAwsService(
            self,
            GET_BEDROCK,
            service="bedrock",
            action="getModelCustomizationJob",
            parameters={"JobIdentifier": sfn.JsonPath.string_at(path("training", "job_id"))},
            iam_action="bedrock:GetModelCustomizationJob",
            iam_resources=[self._job_arns],
            result_path=path("bedrock_job"),
        )
        get.add_retry(**_retry_kwargs(BEDROCK_RETRY))
        self._catch(get, "Watch")

        stop = tasks.CallAwsService(
            self,
            STOP_BEDROCK,
            comment="The overall time limit passed: stop the job so it stops spending",
            service="bedrock",
            action="stopModelCustomizationJob",
            parameters={"JobIdentifier": sfn.JsonPath.string_at(path("training", "job_id"))},
            iam_action="bedrock:StopModelCustomizationJob",
            iam_resources=[self._job_arns],
            result_path=sfn.JsonPath.DISCARD,
        )
        stop.add_retry(**_retry_kwargs(BEDROCK_RETRY))
        self._catch(stop, "Watch")
        stop.next(self._time_limit_reached())

        failed_message = self._failure(
            BEDROCK_FAILED,
            "Watch",
            "TrainingFailed",
            sfn.JsonPath.format(
                "Bedrock job {} failed: {}",
                sfn.JsonPath.string_at(path("training", "job_id")),
                sfn.JsonPath.string_at(path("bedrock_job", "FailureMessage")),
            ),
        )
        failed_silent = self._failure(
            f"{BEDROCK_FAILED} without a message",
            "Watch",
            "TrainingFailed",
            sfn.JsonPath.format(
                "Bedrock job {} failed and gave no failure message.",
                sfn.JsonPath.string_at(path("training", "job_id")),
            ),
        )
        failed = (
            sfn.Choice(self, f"{BEDROCK_FAILED}: message given?")
            .when(sfn.Condition.is_present(path("bedrock_job", "FailureMessage")), failed_message)
            .otherwise(failed_silent)
        )
        stopped = self._failure(
            BEDROCK_STOPPED,
            "Watch",
            "TrainingStopped",
            sfn.JsonPath.format(
                "Bedrock job {} was stopped before it completed.",
                sfn.JsonPath.string_at(path("training", "job_id")),
            ),
        )
        status = self._watch_choice(
            BEDROCK_STATUS,
            status_path=path("bedrock_job", "Status"),
            succeeded=raw_status(BEDROCK_JOB_STATES, JobState.SUCCEEDED),
            failed=raw_status(BEDROCK_JOB_STATES, JobState.FAILED),
            stopped=raw_status(BEDROCK_JOB_STATES, JobState.STOPPED),
            on_success=self._serve(),
            on_failure=failed,
            on_stopped=stopped,
            on_time_limit=stop,
            wait=wait,
            prefix="Bedrock",
        )
        wait.next(get).next(status)
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
        start = tasks.CallAwsService(
            self,
            name,
            comment="CreateModelCustomizationJob (RFT); the request token makes a retried call idempotent",
            service="bedrock",
            action="createModelCustomizationJob",
            parameters=parameters,
            iam_action="bedrock:CreateModelCustomizationJob",
            iam_resources=[self._job_arns, self._custom_model_arns, *self._foundation_models],
            additional_iam_statements=[
                iam.PolicyStatement(
                    actions=["bedrock:TagResource"], resources=[self._job_arns, self._custom_model_arns]
                )
            ],
            result_selector={"job_id": sfn.JsonPath.string_at("$.JobArn"), "provider": "bedrock"},
            result_path=path("training"),
        )
        start.add_retry(**_retry_kwargs(BEDROCK_RETRY))
        self._catch(start, "Start")
        return start

    def _mantle_branch(self) -> sfn.IChainable:
        mantle = self._steps.mantle
        start = tasks.LambdaInvoke(
            self,
            START_MANTLE,
            comment="Uploads the training file, creates the reinforcement job (openai SDK, no stored secret)",
            lambda_function=mantle.alias,
            payload=sfn.TaskInput.from_object(
                {"action": "start", "plan": sfn.JsonPath.object_at(path("plan"))}
            ),
            result_selector={
                "job_id": sfn.JsonPath.string_at("$.Payload.id"),
                "status": sfn.JsonPath.string_at("$.Payload.status"),
                "provider": "mantle",
            },
            result_path=path("training"),
            task_timeout=self._task_timeout(mantle),
        )
        start.add_retry(**_retry_kwargs(MANTLE_RETRY))
        self._catch(start, "Start")

        wait = sfn.Wait(self, WAIT_MANTLE, time=sfn.WaitTime.seconds_path(WAIT_SECONDS))
        get = tasks.LambdaInvoke(
            self,
            GET_MANTLE,
            comment="Job status; appends the per-step training metrics to the artifacts bucket",
            lambda_function=mantle.alias,
            payload=sfn.TaskInput.from_object(
                {
                    "action": "status",
                    "job_id": sfn.JsonPath.string_at(path("training", "job_id")),
                    "plan": sfn.JsonPath.object_at(path("plan")),
                }
            ),
            result_selector={key: sfn.JsonPath.string_at(f"$.Payload.{key}") for key in MANTLE_JOB_FIELDS},
            result_path=path("mantle_job"),
            task_timeout=self._task_timeout(mantle),
        )
        get.add_retry(**_retry_kwargs(MANTLE_RETRY))
        self._catch(get, "Watch")

        cancel = tasks.LambdaInvoke(
            self,
            CANCEL_MANTLE,
            comment="The overall time limit passed: cancel the job so it stops spending",
            lambda_function=mantle.alias,
            payload=sfn.TaskInput.from_object(
                {
                    "action": "cancel",
                    "job_id": sfn.JsonPath.string_at(path("training", "job_id")),
                    "plan": sfn.JsonPath.object_at(path("plan")),
                }
            ),
            result_path=sfn.JsonPath.DISCARD,
            task_timeout=self._task_timeout(mantle),
        )
        cancel.add_retry(**_retry_kwargs(MANTLE_RETRY))
        self._catch(cancel, "Watch")
        cancel.next(self._time_limit_reached())

        failed = self._failure(
            MANTLE_FAILED,
            "Watch",
            "TrainingFailed",
            sfn.JsonPath.format(
                "Mantle job {} failed: {}",
                sfn.JsonPath.string_at(path("training", "job_id")),
                sfn.JsonPath.string_at(path("mantle_job", "failure_message")),
            ),
        )
        stopped = self._failure(
            MANTLE_STOPPED,
            "Watch",
            "TrainingStopped",
            sfn.JsonPath.format(
                "Mantle job {} was cancelled before it completed.",
                sfn.JsonPath.string_at(path("training", "job_id")),
            ),
        )
        status = self._watch_choice(
            MANTLE_STATUS,
            status_path=path("mantle_job", "state"),
            succeeded=JobState.SUCCEEDED.value,
            failed=JobState.FAILED.value,
            stopped=JobState.STOPPED.value,
            on_success=self._publish(),
            on_failure=failed,
            on_stopped=stopped,
            on_time_limit=cancel,
            wait=wait,
            prefix="Mantle",
        )
        start.next(wait)
        wait.next(get).next(status)
        return start

    def _watch_choice(
        self,
        name: str,
        *,
        status_path: str,
        succeeded: str,
        failed: str,
        stopped: str,
        on_success: sfn.IChainable,
        on_failure: sfn.IChainable,
        on_stopped: sfn.IChainable,
        on_time_limit: sfn.IChainable,
        wait: sfn.Wait,
        prefix: str,
    ) -> sfn.Choice:
        """Ends the watch on a final status or the time limit; otherwise doubles the wait up to the cap."""
        back_off = sfn.Pass(
            self,
            f"{prefix}: double the wait",
            parameters={
                "wait_seconds.$": f"States.MathAdd({WAIT_SECONDS}, {WAIT_SECONDS})",
                "max_wait_seconds.$": path("watch", "max_wait_seconds"),
                "deadline.$": path("watch", "deadline"),
            },
            result_path=path("watch"),
        )
        cap = sfn.Pass(
            self,
            f"{prefix}: cap the wait",
            parameters={
                "wait_seconds.$": path("watch", "max_wait_seconds"),
                "max_wait_seconds.$": path("watch", "max_wait_seconds"),
                "deadline.$": path("watch", "deadline"),
            },
            result_path=path("watch"),
        )
        back_off.next(
            sfn.Choice(self, f"{prefix}: wait above the cap?")
            .when(
                sfn.Condition.number_greater_than_json_path(WAIT_SECONDS, MAX_WAIT_SECONDS),
                cap.next(wait),
            )
            .otherwise(wait)
        )
        return (
            sfn.Choice(self, name)
            .when(sfn.Condition.string_equals(status_path, succeeded), on_success)
            .when(sfn.Condition.string_equals(status_path, failed), on_failure)
            .when(sfn.Condition.string_equals(status_path, stopped), on_stopped)
            .when(
                sfn.Condition.timestamp_greater_than_equals_json_path(*PAST_DEADLINE),
                on_time_limit,
            )
            .when(
                sfn.Condition.number_greater_than_equals_json_path(WAIT_SECONDS, MAX_WAIT_SECONDS),
                wait,
            )
            .otherwise(back_off)
        )

    def _serve(self) -> sfn.IChainable:
        create = tasks.CallAwsService(
            self,
            CREATE_DEPLOYMENT,
            comment="An on-demand custom model deployment: its ARN is the model id to invoke",
            service="bedrock",
            action="createCustomModelDeployment",
            parameters={
                "ModelDeploymentName": sfn.JsonPath.string_at(
                    path("plan", "bedrock", "create_deployment", "ModelDeploymentName")
                ),
                "ModelArn": sfn.JsonPath.string_at(path("bedrock_job", "OutputModelArn")),
                "Description": sfn.JsonPath.string_at(
                    path("plan", "bedrock", "create_deployment", "Description")
                ),
                "Tags": sfn.JsonPath.list_at(path("plan", "bedrock", "create_deployment", "Tags")),
                "ClientRequestToken": sfn.JsonPath.string_at(
                    path("plan", "bedrock", "create_deployment", "ClientRequestToken")
                ),
            },
            iam_action="bedrock:CreateCustomModelDeployment",
            iam_resources=[self._deployment_arns, self._custom_model_arns],
            additional_iam_statements=[
                iam.PolicyStatement(actions=["bedrock:TagResource"], resources=[self._deployment_arns])
            ],
            result_selector={"arn": sfn.JsonPath.string_at("$.CustomModelDeploymentArn")},
            result_path=path("deployment"),
        )
        create.add_retry(**_retry_kwargs(BEDROCK_RETRY))
        self._catch(create, "Serve")
        wait = sfn.Wait(
            self, WAIT_DEPLOYMENT, time=sfn.WaitTime.seconds_path(path("plan", "watch", "first_wait_seconds"))
        )
        get = tasks.CallAwsService(
            self,
            GET_DEPLOYMENT,
            service="bedrock",
            action="getCustomModelDeployment",
            parameters={"CustomModelDeploymentIdentifier": sfn.JsonPath.string_at(path("deployment", "arn"))},
            iam_action="bedrock:GetCustomModelDeployment",
            iam_resources=[self._deployment_arns],
            result_path=path("deployment_status"),
        )
        get.add_retry(**_retry_kwargs(BEDROCK_RETRY))
        self._catch(get, "Serve")
        failed_message = self._failure(
            DEPLOYMENT_FAILED,
            "Serve",
            "DeploymentFailed",
            sfn.JsonPath.format(
                "Deployment {} failed: {}",
                sfn.JsonPath.string_at(path("deployment", "arn")),
                sfn.JsonPath.string_at(path("deployment_status", "FailureMessage")),
            ),
        )
        failed_silent = self._failure(
            f"{DEPLOYMENT_FAILED} without a message",
            "Serve",
            "DeploymentFailed",
            sfn.JsonPath.format(
                "Deployment {} failed and gave no failure message.",
                sfn.JsonPath.string_at(path("deployment", "arn")),
            ),
        )
        too_late = self._failure(
            DEPLOYMENT_TIME_LIMIT,
            "Serve",
            "TimeLimitExceeded",
            sfn.JsonPath.format(
                "Deployment {} was not Active within the time limit; the trained model is {}.",
                sfn.JsonPath.string_at(path("deployment", "arn")),
                sfn.JsonPath.string_at(path("bedrock_job", "OutputModelArn")),
            ),
        )
        status = (
            sfn.Choice(self, DEPLOYMENT_STATUS)
            .when(
                sfn.Condition.string_equals(path("deployment_status", "Status"), DEPLOYMENT_ACTIVE),
                self._publish(),
            )
            .when(
                sfn.Condition.string_equals(path("deployment_status", "Status"), DEPLOYMENT_FAILED_STATUS),
                sfn.Choice(self, f"{DEPLOYMENT_FAILED}: message given?")
                .when(sfn.Condition.is_present(path("deployment_status", "FailureMessage")), failed_message)
                .otherwise(failed_silent),
            )
            .when(
                sfn.Condition.timestamp_greater_than_equals_json_path(*PAST_DEADLINE),
                too_late,
            )
            .otherwise(wait)
        )
        create.next(wait).next(get).next(status)
        return (
            sfn.Choice(self, SERVE)
            .when(sfn.Condition.boolean_equals(path("plan", "deploy"), True), create)
            .otherwise(self._publish())
        )

    def _publish(self) -> sfn.IChainable:
        existing = self.node.try_find_child(PUBLISH)
        if existing is not None:
            return existing  # type: ignore[return-value]
        publish = tasks.LambdaInvoke(
            self,
            PUBLISH,
            comment="Writes the model record to SSM Parameter Store (/rft/<env>/models/<name>)",
            lambda_function=self._steps.publish.alias,
            payload=sfn.TaskInput.from_object(
                {
                    "state": sfn.JsonPath.entire_payload,
                    "execution_arn": sfn.JsonPath.execution_id,
                    "started_at": sfn.JsonPath.execution_start_time,
                }
            ),
            result_selector={
                "record": sfn.JsonPath.object_at("$.Payload.record"),
                "parameter": sfn.JsonPath.string_at("$.Payload.parameter"),
            },
            result_path=path("published"),
            task_timeout=self._task_timeout(self._steps.publish),
        )
        self._catch(publish, "Publish")
        announce = tasks.EventBridgePutEvents(
            self,
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
        self._catch(announce, "Publish")
        notify = tasks.SnsPublish(
            self,
            NOTIFY_READY,
            topic=self._topic,
            subject=sfn.JsonPath.format(
                "RFT model {} is ready", sfn.JsonPath.string_at(path("plan", "name"))
            ),
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
        self._catch(notify, "Publish")
        publish.next(announce).next(notify).next(sfn.Succeed(self, SUCCEEDED))
        return publish

    # --- failures --------------------------------------------------------------------------------

    def _catch(self, task: sfn.TaskStateBase, step: str) -> None:
        task.add_catch(self._caught[step], errors=["States.ALL"], result_path=path("caught"))

    def _step_failed(self, step: str) -> sfn.Pass:
        """An error raised in `step`: `<step>.<error name>` (a Fail state may not raise a `States.`
        name itself) and the whole error object as the cause."""
        return sfn.Pass(
            self,
            f"{step} step failed",
            parameters={
                "step": step,
                "error.$": f"States.Format('{step}.{{}}', {path('caught', 'Error')})",
                "cause.$": f"States.JsonToString({path('caught')})",
            },
            result_path=path("failure"),
        ).next(self._notify_failure())

    def _failure(self, name: str, step: str, error: str, cause: str) -> sfn.Pass:
        """A run that ended badly without an error being raised (a job that failed, a time limit)."""
        return sfn.Pass(
            self, name, parameters={"step": step, "error": error, "cause": cause}, result_path=path("failure")
        ).next(self._notify_failure())

    def _time_limit_reached(self) -> sfn.IChainable:
        existing = self.node.try_find_child(TIME_LIMIT_REACHED)
        if existing is not None:
            return existing  # type: ignore[return-value]
        return self._failure(
            TIME_LIMIT_REACHED,
            "Watch",
            "TimeLimitExceeded",
            sfn.JsonPath.format(
                "Job {} did not finish within the time limit of {} seconds and was stopped.",
                sfn.JsonPath.string_at(path("training", "job_id")),
                sfn.JsonPath.string_at(path("plan", "watch", "time_limit_seconds")),
            ),
        )

    def _notify_failure(self) -> sfn.IChainable:
        existing = self.node.try_find_child(NOTIFY_FAILURE)
        if existing is not None:
            return existing  # type: ignore[return-value]
        failed = sfn.Fail(
            self, FAILED, error_path=path("failure", "error"), cause_path=path("failure", "cause")
        )
        notify = tasks.SnsPublish(
            self,
            NOTIFY_FAILURE,
            topic=self._topic,
            subject=sfn.JsonPath.format("RFT run {} failed", sfn.JsonPath.execution_name),
            message=sfn.TaskInput.from_text(
                sfn.JsonPath.format(
                    "The RFT run {} failed in step {}. Error: {}. Cause: {} Execution: {}",
                    sfn.JsonPath.execution_name,
                    sfn.JsonPath.string_at(path("failure", "step")),
                    sfn.JsonPath.string_at(path("failure", "error")),
                    sfn.JsonPath.string_at(path("failure", "cause")),
                    sfn.JsonPath.execution_id,
                )
            ),
            result_path=sfn.JsonPath.DISCARD,
        )
        # A notification that cannot be sent must not hide the run's own failure.
        notify.add_catch(failed, errors=["States.ALL"], result_path=path("notification_error"))
        return notify.next(failed)

    # --- IAM -------------------------------------------------------------------------------------

    def _task_timeout(self, step: WorkflowFunction) -> sfn.Timeout:
        return sfn.Timeout.duration(step.timeout.plus(cdk.Duration.seconds(30)))

    def _grant_bedrock(self) -> None:
        """What the SDK tasks need beyond their own actions: pass the service role (to Bedrock
        only) and let Bedrock use the data key for the custom model on the workflow's behalf."""
        role = self.state_machine.role
        self._region = cdk.Stack.of(self).region
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="PassBedrockServiceRole",
                actions=["iam:PassRole"],
                resources=[self._service_role.role_arn],
                conditions={"StringEquals": {"iam:PassedToService": "bedrock.amazonaws.com"}},
            )
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="EncryptCustomModels",
                actions=["kms:DescribeKey", "kms:CreateGrant", "kms:GenerateDataKey", "kms:Decrypt"],
                resources=[self._data_key.key_arn],
                conditions={"StringEquals": {"kms:ViaService": f"bedrock.{self._region}.amazonaws.com"}},
            )
        )


def _retry_kwargs(props: sfn.RetryProps) -> dict[str, object]:
    return {
        "errors": props.errors,
        "interval": props.interval,
        "backoff_rate": props.backoff_rate,
        "max_attempts": props.max_attempts,
        "max_delay": props.max_delay,
        "jitter_strategy": props.jitter_strategy,
    }
