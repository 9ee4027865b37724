"""The training stack: the Bedrock service role, the workflow's Lambda steps, the state machine,
the environment's notification topic, and the rule that stops the job of an aborted run."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Protocol

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
from stacks.constructs.dead_letters import DeadLetters
from stacks.constructs.notifications import Notifications
from stacks.constructs.training_workflow import TrainingWorkflow, WorkflowSteps
from stacks.constructs.workflow_function import WorkflowFunction
from stacks.security import (
    CHECK_DEAD_LETTER_QUEUE,
    acknowledge_wildcard,
    arn,
    calls_services_outside_a_vpc,
    invoked_synchronously,
    referenced,
    shares_the_account_pool,
    skip_checkov,
)
from stacks.version import source_version

# The Mantle (OpenAI-compatible) plane's IAM actions, as the IAM service reference (cfn-lint's copy)
# lists them for `bedrock-mantle`: the file and fine-tuning actions apply to a `project`
# (`arn:...:bedrock-mantle:<region>:<account>:project/<id>`); job events (the per-step metrics)
# are read under GetFineTuningJob, the reference naming no separate action for them.
MANTLE_JOB_ACTIONS = (
    "bedrock-mantle:CreateFile",
    "bedrock-mantle:CreateFineTuningJob",
    "bedrock-mantle:GetFineTuningJob",
    "bedrock-mantle:ListFineTuningJobs",
    "bedrock-mantle:CancelFineTuningJob",
)
MANTLE_CANCEL_ACTIONS = (
    "bedrock-mantle:GetFineTuningJob",
    "bedrock-mantle:ListFineTuningJobs",
    "bedrock-mantle:CancelFineTuningJob",
)
# Using a short-term Bedrock API key as a bearer token; the action takes no resource.
MANTLE_BEARER_ACTION = "bedrock-mantle:CallWithBearerToken"
MANTLE_PROJECTS_REASON = (
    "Mantle jobs and files live in a Mantle project of this account and region (the default "
    "project unless one is configured), which this stack does not create: its id is not known at synth"
)
MANTLE_BEARER_REASON = (
    "bedrock-mantle:CallWithBearerToken (authenticating with a short-term Bedrock API key made from "
    "this role) accepts no resource-level permissions, so Resource must be '*'"
)
# States that make a run stop spending: the cleanup rule fires on these.
CLEANUP_STATUSES = ("ABORTED", "TIMED_OUT")
# Lambda's most retries of an asynchronous invocation and its longest event age (stopping a job is
# idempotent), and EventBridge's delivery retries and event age: a job left running costs by the hour.
CLEANUP_RETRIES = 2
CLEANUP_MAX_EVENT_AGE = cdk.Duration.hours(6)
EVENT_DELIVERY_RETRIES = 8
EVENT_MAX_AGE = cdk.Duration.hours(12)


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
        datasets_bucket: s3.IBucket,
        artifacts_bucket: s3.IBucket,
        data_key: kms.IKey,
        graders: Mapping[str, HasLiveAlias],
        **kwargs,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self._data_key = data_key
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
        datasets_arn, self._datasets_nag = referenced(self, datasets_bucket, datasets_bucket.bucket_arn)
        artifacts_arn, artifacts_nag = referenced(self, artifacts_bucket, artifacts_bucket.bucket_arn)
        self._datasets_arn = datasets_arn

        common = {
            "ENVIRONMENT": settings.name,
            "POWERTOOLS_SERVICE_NAME": "rft-workflow",
            # Pinned in each run's recipe (rft.recipes), so a record says what version ran it.
            names.VERSION_VARIABLE: source_version(),
        }
        self.validate = self._function(
            "Validate",
            settings,
            handler="validate.handler",
            description="rft-stack workflow: validate the job request and its dataset",
            timeout=cdk.Duration.minutes(5),
            memory_size=1024,
            environment={
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
        self._read_datasets(self.validate, data_key)
        if grader_arns:
            # The run's recipe pins the version and code hash the grader's live alias points to.
            self.validate.allow(["lambda:GetFunctionConfiguration"], list(grader_arns.values()))

        self.mantle = self._function(
            "Mantle",
            settings,
            handler="mantle.handler",
            description="rft-stack workflow: start, watch and cancel Mantle (OpenAI-compatible) jobs",
            # Copies up to 512 MB of training data from S3 to the Files API through /tmp.
            timeout=cdk.Duration.minutes(15),
            memory_size=1024,
            environment={**common},
        )
        cfn_mantle = self.mantle.function.node.default_child
        assert isinstance(cfn_mantle, lambda_.CfnFunction)
        cfn_mantle.ephemeral_storage = lambda_.CfnFunction.EphemeralStorageProperty(size=2048)
        self._read_datasets(self.mantle, data_key)
        # Writes the metrics, and reads and writes the start record that makes a retried start safe.
        self.mantle.allow(["s3:GetObject", "s3:PutObject"], [f"{artifacts_arn}/{ARTIFACTS_PREFIX}/*"])
        self.mantle.allow(["kms:GenerateDataKey"], [data_key.key_arn])
        mantle_projects = arn(self, "bedrock-mantle", "project/*")
        self.mantle.allow(MANTLE_JOB_ACTIONS, [mantle_projects])
        self.mantle.allow([MANTLE_BEARER_ACTION], ["*"])
        if grader_arns:
            # Mantle invokes the grader as the identity that created the job (rft.assumptions).
            self.mantle.allow(["lambda:InvokeFunction"], list(grader_arns.values()))
        acknowledge_wildcard(self.mantle.policy, mantle_projects, MANTLE_PROJECTS_REASON)
        acknowledge_wildcard(self.mantle.policy, "*", MANTLE_BEARER_REASON)
        acknowledge_wildcard(
            self.mantle.policy,
            f"{artifacts_nag}/{ARTIFACTS_PREFIX}/*",
            "Per-step metrics and the start record of each Mantle run live under jobs/<run name>/; the "
            "run names are chosen at run time",
        )

        self.publish = self._function(
            "Publish",
            settings,
            handler="publish.handler",
            description="rft-stack workflow: write the model record to SSM Parameter Store",
            timeout=cdk.Duration.minutes(1),
            memory_size=512,
            environment={**common},
        )
        aliases = arn(self, "ssm", names.parameter_resource(settings.name, names.ALIASES))
        self.validate.allow(["ssm:GetParameter"], [aliases])
        acknowledge_wildcard(
            self.validate.policy,
            aliases,
            f"Reads only whether an alias under {names.parameter_path(settings.name, names.ALIASES)}/ "
            "has the run's name (a run may not take an alias's name); run names are chosen at run time",
        )
        models_parameters = arn(self, "ssm", names.parameter_resource(settings.name, names.MODELS))
        self.publish.allow(["ssm:PutParameter", "ssm:GetParameter"], [models_parameters])
        acknowledge_wildcard(
            self.publish.policy,
            models_parameters,
            f"One model record per run under {names.parameter_path(settings.name, names.MODELS)}/<run name>; "
            "run names are "
            "chosen at run time",
        )

        self.guard = self._guard_function(settings, data_key, artifacts_arn, artifacts_nag)
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
        self.job_events = self._function(
            "JobEvents",
            settings,
            handler="job_events.handler",
            description="rft-stack workflow: hand a finished Bedrock job's event to the run waiting for it",
            timeout=cdk.Duration.seconds(30),
            memory_size=256,
            environment={**common, "WATCH_TABLE": self.watch_table.table_name},
        )
        self.job_events.allow(["dynamodb:PutItem", "dynamodb:UpdateItem"], [self.watch_table.table_arn])
        self.job_events.allow(
            ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:DescribeKey"], [data_key.key_arn]
        )

        self.workflow = TrainingWorkflow(
            self,
            "Workflow",
            steps=WorkflowSteps(
                validate=self.validate,
                mantle=self.mantle,
                publish=self.publish,
                guard=self.guard,
                job_events=self.job_events,
            ),
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

        self.cleanup = self._function(
            "Cleanup",
            settings,
            handler="cleanup.handler",
            description="rft-stack workflow: stop the job of an aborted or timed-out run",
            timeout=cdk.Duration.minutes(2),
            memory_size=512,
            environment={**common, "TOPIC_ARN": self.topic.topic_arn},
        )
        # EventBridge invokes the cleanup asynchronously: a cleanup that fails every retry, or an
        # event EventBridge cannot deliver, is kept in an encrypted queue that raises an alarm.
        self.cleanup_failures = DeadLetters(
            self,
            "CleanupFailures",
            key=data_key,
            topic=self.topic,
            what="Stopping the job of an aborted or timed-out run (the cleanup function)",
            alarm=settings.operations.alarms_enabled,
        )
        self.cleanup_failures.receive_failures_of(self.cleanup.function, self.cleanup.role)
        self.cleanup.alias.configure_async_invoke(
            retry_attempts=CLEANUP_RETRIES, max_event_age=CLEANUP_MAX_EVENT_AGE
        )
        state_machine_name, state_machine_name_nag = referenced(
            self, self.state_machine, self.state_machine.state_machine_name
        )
        executions = arn(self, "states", f"execution:{state_machine_name}:*")
        self.cleanup.allow(["states:GetExecutionHistory"], [executions])
        self.cleanup.allow(
            ["bedrock:GetModelCustomizationJob", "bedrock:StopModelCustomizationJob"],
            [arn(self, "bedrock", "model-customization-job/*")],
        )
        # The Mantle start record names the job of a run aborted during its start step.
        self.cleanup.allow(["s3:GetObject"], [f"{artifacts_arn}/{ARTIFACTS_PREFIX}/*"])
        self.cleanup.allow(["kms:Decrypt"], [data_key.key_arn])
        self.cleanup.allow(MANTLE_CANCEL_ACTIONS, [mantle_projects])
        self.cleanup.allow([MANTLE_BEARER_ACTION], ["*"])
        self.cleanup.policy.add_statements(*self.notifications.publish_statements())
        acknowledge_wildcard(self.cleanup.policy, mantle_projects, MANTLE_PROJECTS_REASON)
        acknowledge_wildcard(self.cleanup.policy, "*", MANTLE_BEARER_REASON)
        acknowledge_wildcard(
            self.cleanup.policy,
            arn(self, "states", f"execution:{state_machine_name_nag}:*"),
            "Reads the history of the workflow's own executions, whose names are the run names "
            "chosen at run time",
        )
        acknowledge_wildcard(
            self.cleanup.policy,
            f"{artifacts_nag}/{ARTIFACTS_PREFIX}/*",
            "Reads the start record of an aborted Mantle run under jobs/<run name>/; run names are "
            "chosen at run time",
        )
        acknowledge_wildcard(
            self.cleanup.policy,
            arn(self, "bedrock", "model-customization-job/*"),
            "Stops the customization job an aborted run started; job ARNs are created by Bedrock at run time",
        )
        self.cleanup_rule = events.Rule(
            self,
            "StopJobsOfAbortedRuns",
            description="An aborted or timed-out training run stops its Bedrock or Mantle job",
            event_pattern=events.EventPattern(
                source=["aws.states"],
                detail_type=["Step Functions Execution Status Change"],
                detail={
                    "status": list(CLEANUP_STATUSES),
                    "stateMachineArn": [self.state_machine.state_machine_arn],
                },
            ),
            targets=[
                targets.LambdaFunction(
                    self.cleanup.alias,
                    retry_attempts=EVENT_DELIVERY_RETRIES,
                    max_event_age=EVENT_MAX_AGE,
                    dead_letter_queue=self.cleanup_failures.queue,
                )
            ],
        )
        self.cleanup_failures.allow_eventbridge_rules_of(self)

        self._acknowledge_checkov()

        cdk.CfnOutput(self, names.STATE_MACHINE_OUTPUT, value=self.state_machine.state_machine_arn)
        cdk.CfnOutput(self, names.TOPIC_OUTPUT, value=self.topic.topic_arn)
        cdk.CfnOutput(
            self,
            names.ALLOWED_MODELS_OUTPUT,
            value=json.dumps(list(settings.allowed_base_models)),
            description="JSON list: the base models a run may use here (empty: any the region offers)",
        )

    def _function(
        self,
        construct_id: str,
        settings: EnvironmentSettings,
        *,
        handler: str,
        description: str,
        timeout: cdk.Duration,
        memory_size: int,
        environment: Mapping[str, str],
    ) -> WorkflowFunction:
        return WorkflowFunction(
            self,
            construct_id,
            handler=handler,
            description=description,
            log_retention_days=settings.log_retention_days,
            retain_logs=settings.retain_data,
            log_key=self._data_key,
            environment=environment,
            timeout=timeout,
            memory_size=memory_size,
        )

    def _acknowledge_checkov(self) -> None:
        """Why the workflow's functions have no dead-letter queue, VPC or reserved concurrency."""
        per_step = (
            "Runs once per step of a training run (a handful of invocations per job, bounded by the runs "
            "started); reserving concurrency would take it from every other function of the account"
        )
        for step, calls in (
            (self.validate, "S3 (the datasets bucket) and KMS"),
            (self.mantle, "the Mantle endpoint (bedrock-mantle.<region>.api.aws), S3 and KMS"),
            (self.publish, "SSM Parameter Store"),
            (self.guard, "S3 (the artifacts bucket) and KMS"),
        ):
            invoked_synchronously(step.function, "the training workflow's Step Functions Task state")
            calls_services_outside_a_vpc(step.function, calls)
            shares_the_account_pool(step.function, per_step)
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

    def _deliver_job_events(self) -> None:
        """Bedrock's job-end events (best effort, rft.assumptions) to the run that waits for them."""
        self.job_events.allow(["states:SendTaskSuccess"], ["*"])
        acknowledge_wildcard(
            self.job_events.policy,
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

    def _guard_function(
        self, settings: EnvironmentSettings, data_key: kms.IKey, artifacts_arn: str, artifacts_nag: str
    ) -> WorkflowFunction:
        """The watch loops' health guard: reads each run's metrics under the artifacts prefix."""
        guard = self._function(
            "Guard",
            settings,
            handler="guard.handler",
            description="rft-stack workflow: judge a running job's training metrics (health guard)",
            timeout=cdk.Duration.minutes(1),
            memory_size=512,
            environment={
                "ENVIRONMENT": settings.name,
                "POWERTOOLS_SERVICE_NAME": "rft-workflow",
                "GUARD_SETTINGS": json.dumps(settings.training.guard.to_mapping(), sort_keys=True),
                "AUTO_STOP": "true" if settings.training.auto_stop else "false",
            },
        )
        guard.allow(["s3:GetObject"], [f"{artifacts_arn}/{ARTIFACTS_PREFIX}/*"])
        guard.allow(
            ["s3:ListBucket"], [artifacts_arn], {"StringLike": {"s3:prefix": [f"{ARTIFACTS_PREFIX}/*"]}}
        )
        guard.allow(["kms:Decrypt"], [data_key.key_arn])
        acknowledge_wildcard(
            guard.policy,
            f"{artifacts_nag}/{ARTIFACTS_PREFIX}/*",
            "Reads the per-step metrics of each run under jobs/<run name>/; run names are chosen at run time",
        )
        return guard

    def _read_datasets(self, function: WorkflowFunction, data_key: kms.IKey) -> None:
        function.allow(["s3:GetObject"], [f"{self._datasets_arn}/*"])
        # Without ListBucket a missing key reads as AccessDenied instead of NoSuchKey.
        function.allow(["s3:ListBucket"], [self._datasets_arn])
        function.allow(["kms:Decrypt"], [data_key.key_arn])
        acknowledge_wildcard(
            function.policy,
            f"{self._datasets_nag}/*",
            "Reads the dataset files a run names; dataset keys are chosen at upload time "
            "(content-hashed), so the datasets bucket's objects are the resource",
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
