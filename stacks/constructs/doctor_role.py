"""The role that `rft doctor` runs under after a pipeline deploys an environment.

The delivery pipeline lives in its own account; its post-deploy step assumes this role in the
target account and runs `rft doctor --env <env>`. The role may read what the doctor checks and run
the doctor's canaries (a grader batch, a validate-only workflow execution, a signed
`GET /v1/models`), nothing else. Its name is fixed (`doctor_role_name`) because the pipeline, in
another account, must know it before this stack exists.
"""

from __future__ import annotations

from collections.abc import Iterable

import aws_cdk as cdk
from aws_cdk import aws_apigatewayv2 as apigwv2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from rft import PROJECT
from rft.names import DOCTOR_PREFIX
from stacks.security import acknowledge, nag_form, referenced


def doctor_role_name(environment: str) -> str:
    """The doctor role's name in an environment's account (at most 64 characters)."""
    return f"{PROJECT}-{environment}-doctor"


class DoctorRole(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        environment: str,
        trusted_account: str,
        grader_aliases: Iterable[lambda_.IAlias],
        state_machine: sfn.StateMachine,
        topic: sns.ITopic,
        http_api: apigwv2.IHttpApi | None = None,
        datasets_bucket: s3.IBucket | None = None,
        data_key: kms.IKey | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = cdk.Stack.of(self)
        self.role = iam.Role(
            self,
            "Role",
            role_name=doctor_role_name(environment),
            assumed_by=iam.AccountPrincipal(trusted_account),
            description=f"rft doctor: post-deploy checks of {environment}, assumed by the delivery pipeline",
            max_session_duration=cdk.Duration.hours(1),
        )
        stacks = stack.format_arn(
            service="cloudformation", resource="stack", resource_name=f"{environment}-*/*"
        )
        machine_name, machine_nag = referenced(self, state_machine, state_machine.state_machine_name)

        def executions_of(name: str) -> str:
            return stack.format_arn(
                service="states",
                resource="execution",
                resource_name=f"{name}:*",
                arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
            )

        executions = executions_of(machine_name)
        alarms = stack.format_arn(
            service="cloudwatch",
            resource="alarm",
            resource_name="*",
            arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
        )
        budgets = stack.format_arn(service="budgets", region="", resource="budget", resource_name="*")
        statements = [
            ("ReadStacks", ["cloudformation:DescribeStacks"], [stacks]),
            ("CanaryGraders", ["lambda:InvokeFunction"], [alias.function_arn for alias in grader_aliases]),
            ("ValidateOnlyRun", ["states:StartExecution"], [state_machine.state_machine_arn]),
            ("ReadRun", ["states:DescribeExecution"], [executions]),
            ("ReadTopic", ["sns:GetTopicAttributes", "sns:ListSubscriptionsByTopic"], [topic.topic_arn]),
            ("ReadAlarms", ["cloudwatch:DescribeAlarms"], [alarms]),
            ("ReadBudgets", ["budgets:ViewBudget"], [budgets]),
        ]
        canary_nag = None
        if datasets_bucket is not None and data_key is not None:
            # The validate-only run reads a small canary dataset the doctor writes under doctor/.
            bucket_arn, bucket_nag = referenced(self, datasets_bucket, datasets_bucket.bucket_arn)
            canary_nag = f"{bucket_nag}/{DOCTOR_PREFIX}/*"
            statements.append(("CanaryDataset", ["s3:PutObject"], [f"{bucket_arn}/{DOCTOR_PREFIX}/*"]))
            statements.append(("CanaryDatasetKey", ["kms:GenerateDataKey"], [data_key.key_arn]))
        models_nag = None
        if http_api is not None:
            api_id, api_nag = referenced(self, http_api, http_api.api_id)
            models, models_nag = (
                stack.format_arn(service="execute-api", resource=api, resource_name="*/GET/v1/models")
                for api in (api_id, api_nag)
            )
            statements.append(("ListModels", ["execute-api:Invoke"], [models]))
        for sid, actions, resources in statements:
            self.role.add_to_policy(iam.PolicyStatement(sid=sid, actions=actions, resources=resources))
        for reason, resource in (
            ("the environment's stacks, whose names the stage prefixes with the environment name", stacks),
            ("executions of this environment's state machine, named at run time", executions_of(machine_nag)),
            ("alarm names are generated by CloudFormation; DescribeAlarms only reads", alarms),
            ("the budget's name is generated by CloudFormation; ViewBudget only reads", budgets),
        ):
            acknowledge(
                self.role, f"AwsSolutions::AwsSolutions-IAM5[Resource::{nag_form(self, resource)}]", reason
            )
        if canary_nag is not None:
            acknowledge(
                self.role,
                f"AwsSolutions::AwsSolutions-IAM5[Resource::{nag_form(self, canary_nag)}]",
                "the validate-only canary's dataset, content-addressed under doctor/ in the datasets bucket",
            )
        if models_nag is not None:
            acknowledge(
                self.role,
                f"AwsSolutions::AwsSolutions-IAM5[Resource::{nag_form(self, models_nag)}]",
                "GET /v1/models on every stage of this environment's gateway",
            )
