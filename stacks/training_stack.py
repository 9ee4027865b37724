"""The training stack: the Bedrock service role, the workflow's Lambda steps, the state machine,
the environment's notification topic, and the rule that stops the job of an aborted run."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import aws_cdk as cdk
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from constructs import Construct

from rft import assumptions, names
from rft.names import ARTIFACTS_PREFIX
from rft.status import BEDROCK_JOB_STATES
from stacks.config import EnvironmentSettings
from stacks.constructs.bedrock_service_role import BedrockServiceRole
from stacks.constructs.notifications import Notifications
from stacks.constructs.training_workflow import TrainingWorkflow, WorkflowSteps
from stacks.constructs.workflow_cleanup import stop_jobs_of_aborted_runs
from stacks.constructs.workflow_function import WorkflowFunction
from stacks.constructs.workflow_grants import MANTLE_JOB_ACTIONS, RunData, use_mantle
from stacks.security import (
    CHECK_DEAD_LETTER_QUEUE,
    acknowledge_wildcard,
    arn,
    calls_services_outside_a_vpc,
    invoked_synchronously,
    shares_the_account_pool,
    skip_checkov,
)
from stacks.version import source_version


@dataclass(frozen=True)
class Step:
    """A workflow step's function: its handler module in lambda_workflow/, what it does, its size."""

    module: str
    does: str
    timeout: cdk.Duration
    memory_size: int


STEPS = {
    "Validate": Step("validate", "validate the job request and its dataset", cdk.Duration.minutes(5), 1024),
    # 15 minutes: copies up to 512 MB of training data from S3 to the Files API through /tmp.
    "Mantle": Step(
        "mantle", "start, watch and cancel Mantle (OpenAI-compatible) jobs", cdk.Duration.minutes(15), 1024
    ),
    "Publish": Step("publish", "write the model record to SSM Parameter Store", cdk.Duration.minutes(1), 512),
    "Guard": Step(
        "guard", "judge a running job's training metrics (health guard)", cdk.Duration.minutes(1), 512
    ),
    "JobEvents": Step(
        "job_events",
        "hand a finished Bedrock job's event to the run waiting for it",
        cdk.Duration.seconds(30),
        256,
    ),
    "Cleanup": Step("cleanup", "stop the job of an aborted or timed-out run", cdk.Duration.minutes(2), 512),
}
# A step that runs once per step of a training run needs no reserved concurrency (checkov's reason).
PER_STEP = (
    "Runs once per step of a training run (a handful of invocations per job, bounded by the runs "
    "started); reserving concurrency would take it from every other function of the account"
)


class DataPlane(Protocol):
    """The data stack as the training stack uses it."""

    @property
    def datasets_bucket(self) -> s3.IBucket: ...
    @property
    def artifacts_bucket(self) -> s3.IBucket: ...
    @property
    def data_key(self) -> kms.IKey: ...


class HasLiveAlias(Protocol):
    """A grader as the rewards stack exposes it: training jobs use its `live` alias."""

    @property
    def alias(self) -> lambda_.IFunction: ...


class TrainingStack(cdk.Stack):
    """Everything a training run needs besides the data and the graders."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: EnvironmentSettings,
        data_plane: DataPlane,
        graders: Mapping[str, HasLiveAlias],
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        datasets_bucket, artifacts_bucket = data_plane.datasets_bucket, data_plane.artifacts_bucket
        data_key = data_plane.data_key
        self._settings = settings
        grader_arns = {name: grader.alias.function_arn for name, grader in sorted(graders.items())}
        self.notifications = Notifications(
            self,
            "Notifications",
            key=data_key,
            emails=settings.notification_emails,
            display_name=f"rft-stack {settings.name}",
        )
        # The operations part's alarms publish here as CloudWatch.
        self.notifications.allow_service("cloudwatch.amazonaws.com")
        self.topic: sns.ITopic = self.notifications.topic

        self.service_role = BedrockServiceRole(
            self,
            "BedrockServiceRole",
            datasets_bucket=datasets_bucket,
            artifacts_bucket=artifacts_bucket,
            data_key=data_key,
            grader_alias_arns=list(grader_arns.values()),
        )
        data = RunData.of(
            self, datasets_bucket=datasets_bucket, artifacts_bucket=artifacts_bucket, key=data_key
        )
        self._data = data
        common = {
            "ENVIRONMENT": settings.name,
            "POWERTOOLS_SERVICE_NAME": "rft-workflow",
            # Pinned in each run's recipe (rft.recipes), so a record says what version ran it.
            names.VERSION_VARIABLE: source_version(),
        }
        self.validate = self._function(
            "Validate",
            {
                **common,
                "DATASETS_BUCKET": datasets_bucket.bucket_name,
                "ARTIFACTS_BUCKET": artifacts_bucket.bucket_name,
                "ARTIFACTS_PREFIX": ARTIFACTS_PREFIX,
                "BEDROCK_ROLE_ARN": self.service_role.role.role_arn,
                "DATA_KEY_ARN": data_key.key_arn,
                "GRADERS": self.to_json_string(grader_arns),
                "ALLOWED_BASE_MODELS": json.dumps(list(settings.allowed_base_models)),
            },
        )
        data.read_datasets(self.validate)
        if grader_arns:
            # The run's recipe pins the version and code hash the grader's live alias points to.
            self.validate.allow(["lambda:GetFunctionConfiguration"], list(grader_arns.values()))
        self.validate.allow_wildcard(
            ["ssm:GetParameter"],
            arn(self, "ssm", names.parameter_resource(settings.name, names.ALIASES)),
            f"Reads only whether an alias under {names.parameter_path(settings.name, names.ALIASES)}/ "
            "has the run's name (a run may not take an alias's name); run names are chosen at run time",
        )

        self.mantle = self._mantle_function(common, list(grader_arns.values()))

        self.publish = self._function("Publish", common)
        self.publish.allow_wildcard(
            ["ssm:PutParameter", "ssm:GetParameter"],
            arn(self, "ssm", names.parameter_resource(settings.name, names.MODELS)),
            f"One model record per run under {names.parameter_path(settings.name, names.MODELS)}/<run name>; "
            "run names are chosen at run time",
        )

        self.guard = self._guard_function()
        self.watch_table = dynamodb.Table(
            self,
            "WatchTable",
            partition_key=dynamodb.Attribute(name="job_arn", type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            encryption=dynamodb.TableEncryption.CUSTOMER_MANAGED,
            encryption_key=data_key,
            time_to_live_attribute="expires_at",
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            # Task tokens of waits in progress: nothing worth keeping once the stack goes.
            removal_policy=cdk.RemovalPolicy.DESTROY,
        )
        self.job_events = self._function("JobEvents", {**common, "WATCH_TABLE": self.watch_table.table_name})
        self.job_events.allow(["dynamodb:PutItem", "dynamodb:UpdateItem"], [self.watch_table.table_arn])
        self.job_events.allow(
            ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:DescribeKey"], [data_key.key_arn]
        )

        steps = WorkflowSteps(
            validate=self.validate,
            mantle=self.mantle,
            publish=self.publish,
            guard=self.guard,
            job_events=self.job_events,
        )
        self.workflow = TrainingWorkflow(
            self,
            "Workflow",
            steps=steps,
            service_role=self.service_role.role,
            data_key=data_key,
            topic=self.topic,
            bedrock_base_models=settings.bedrock_base_models,
            log_retention_days=settings.log_retention_days,
            retain_logs=settings.retain_data,
        )
        self.state_machine = self.workflow.state_machine
        self.notifications.grant_publish(self.state_machine)
        self._acknowledge_state_machine_wildcards()

        self._deliver_job_events()

        self.cleanup = self._function("Cleanup", {**common, "TOPIC_ARN": self.topic.topic_arn})
        self.cleanup_failures, self.cleanup_rule = stop_jobs_of_aborted_runs(
            self,
            cleanup=self.cleanup,
            state_machine=self.state_machine,
            data=data,
            notifications=self.notifications,
            alarm=settings.operations.alarms_enabled,
        )

        self._acknowledge_checkov()

        cdk.CfnOutput(self, names.STATE_MACHINE_OUTPUT, value=self.state_machine.state_machine_arn)
        cdk.CfnOutput(self, names.TOPIC_OUTPUT, value=self.topic.topic_arn)
        cdk.CfnOutput(
            self,
            names.ALLOWED_MODELS_OUTPUT,
            value=json.dumps(list(settings.allowed_base_models)),
            description="JSON list: the base models a run may use here (empty: any the region offers)",
        )

    def _function(self, construct_id: str, environment: Mapping[str, str]) -> WorkflowFunction:
        """The function of the step `construct_id` (its handler and size in `STEPS`)."""
        step = STEPS[construct_id]
        settings = self._settings
        return WorkflowFunction(
            self,
            construct_id,
            handler=f"{step.module}.handler",
            description=f"rft-stack workflow: {step.does}",
            log_retention_days=settings.log_retention_days,
            retain_logs=settings.retain_data,
            log_key=self._data.key,
            environment=environment,
            timeout=step.timeout,
            memory_size=step.memory_size,
        )

    def _mantle_function(self, common: Mapping[str, str], grader_arns: list[str]) -> WorkflowFunction:
        """The Mantle step: starts a job from the run's dataset, records it, watches and cancels it."""
        mantle = self._function("Mantle", common)
        cfn_mantle = mantle.function.node.default_child
        assert isinstance(cfn_mantle, lambda_.CfnFunction)
        cfn_mantle.ephemeral_storage = lambda_.CfnFunction.EphemeralStorageProperty(size=2048)
        self._data.read_datasets(mantle)
        # Writes the metrics, and reads and writes the start record that makes a retried start safe.
        self._data.use_run_files(
            mantle,
            ["s3:GetObject", "s3:PutObject"],
            "Per-step metrics and the start record of each Mantle run live under jobs/<run name>/; the "
            "run names are chosen at run time",
        )
        mantle.allow(["kms:GenerateDataKey"], [self._data.key.key_arn])
        use_mantle(mantle, MANTLE_JOB_ACTIONS)
        if grader_arns:
            # Mantle invokes the grader as the identity that created the job (rft.assumptions).
            mantle.allow(["lambda:InvokeFunction"], grader_arns)
        return mantle

    def _guard_function(self) -> WorkflowFunction:
        """The watch loops' health guard: reads each run's metrics under the artifacts prefix."""
        settings = self._settings
        guard = self._function(
            "Guard",
            {
                "ENVIRONMENT": settings.name,
                "POWERTOOLS_SERVICE_NAME": "rft-workflow",
                "GUARD_SETTINGS": json.dumps(settings.training.guard.to_mapping(), sort_keys=True),
                "AUTO_STOP": "true" if settings.training.auto_stop else "false",
            },
        )
        self._data.use_run_files(
            guard,
            ["s3:GetObject"],
            "Reads the per-step metrics of each run under jobs/<run name>/; run names are chosen at run time",
        )
        guard.allow(
            ["s3:ListBucket"],
            [self._data.artifacts_arn],
            {"StringLike": {"s3:prefix": [f"{ARTIFACTS_PREFIX}/*"]}},
        )
        guard.allow(["kms:Decrypt"], [self._data.key.key_arn])
        return guard

    def _deliver_job_events(self) -> None:
        """Bedrock's job-end events (best effort, rft.assumptions) to the run that waits for them."""
        self.job_events.allow_wildcard(
            ["states:SendTaskSuccess"],
            "*",
            "states:SendTaskSuccess accepts no resource-level permissions (the IAM service reference lists "
            "no resource type for it); the task token itself names the one waiting task",
        )
        self.job_events_rule = events.Rule(
            self,
            "BedrockJobEnded",
            description="A Bedrock customization job ended: wake the training run watching it",
            event_pattern=events.EventPattern(
                source=[assumptions.BEDROCK_JOB_EVENT_SOURCE],
                detail_type=[assumptions.BEDROCK_JOB_EVENT_DETAIL_TYPE],
                detail={"jobStatus": sorted(s for s, state in BEDROCK_JOB_STATES.items() if state.terminal)},
            ),
            targets=[
                targets.LambdaFunction(
                    self.job_events.alias, retry_attempts=4, max_event_age=cdk.Duration.hours(1)
                )
            ],
        )

    def _acknowledge_checkov(self) -> None:
        """Why the workflow's functions have no dead-letter queue, VPC or reserved concurrency."""
        for step, calls in (
            (self.validate, "S3 (the datasets bucket) and KMS"),
            (self.mantle, "the Mantle endpoint (bedrock-mantle.<region>.api.aws), S3 and KMS"),
            (self.publish, "SSM Parameter Store"),
            (self.guard, "S3 (the artifacts bucket) and KMS"),
        ):
            invoked_synchronously(step.function, "the training workflow's Step Functions Task state")
            calls_services_outside_a_vpc(step.function, calls)
            shares_the_account_pool(step.function, PER_STEP)
        calls_services_outside_a_vpc(
            self.cleanup.function, "Step Functions, Bedrock, the Mantle endpoint, SNS and SQS"
        )
        shares_the_account_pool(
            self.cleanup.function,
            "Runs once per aborted or timed-out training run; reserving concurrency would take it from "
            "every other function of the account",
        )
        skip_checkov(
            self.job_events.function,
            CHECK_DEAD_LETTER_QUEUE,
            "Invoked synchronously by the workflow's wait (its errors fall back to a plain wait) and "
            "asynchronously by the job-end rule; a job-end event it fails to hand over costs only the "
            "speed-up: the waiting run times out and polls the job",
        )
        calls_services_outside_a_vpc(self.job_events.function, "DynamoDB, Step Functions and KMS")
        shares_the_account_pool(
            self.job_events.function,
            "Runs twice per poll interval of a Bedrock run at most; reserving concurrency would take it "
            "from every other function of the account",
        )

    def _acknowledge_state_machine_wildcards(self) -> None:
        policy = self.state_machine.role.node.try_find_child("DefaultPolicy")
        assert policy is not None
        acknowledge_wildcard(
            policy,
            "*",
            "Step Functions logging (logs:CreateLogDelivery and the other log-delivery actions) and "
            "X-Ray (xray:PutTraceSegments, PutTelemetryRecords, GetSamplingRules/Targets) accept no "
            "resource-level permissions",
        )
        for resource, reason in (
            (
                "model-customization-job/*",
                "Customization jobs are created by this workflow at run time; their ARNs "
                "(model-customization-job/<base model>/<id>) are unknown before creation",
            ),
            (
                "custom-model/*",
                "The custom model a job produces (and deploys) gets an ARN Bedrock assigns at run time",
            ),
            (
                "custom-model-deployment/*",
                "Deployments are created by this workflow at run time; Bedrock assigns their ARNs",
            ),
        ):
            acknowledge_wildcard(policy, arn(self, "bedrock", resource), reason)
