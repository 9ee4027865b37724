"""Operations of one environment: the dashboard, the alarms and the budget (`Operations`), wired to
the graders, the training workflow, its topic and, once it exists, the serving gateway."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Protocol

import aws_cdk as cdk
from aws_cdk import aws_apigatewayv2 as apigwv2
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from rft import names
from stacks.config import EnvironmentSettings
from stacks.constructs.alarms import MonitoredGateway, MonitoredGrader, MonitoredWorkflow, RewardMetric
from stacks.constructs.doctor_role import DoctorRole
from stacks.constructs.operations import Operations


class GraderLike(Protocol):
    """What the rewards stack's graders offer (`stacks.constructs.grader.Grader`)."""

    @property
    def function(self) -> lambda_.IFunction: ...

    @property
    def alias(self) -> lambda_.IAlias: ...


class OperationsStack(cdk.Stack):
    """Deployed last: it only reads what the other stacks of the stage expose.

    `allow_service_to_publish(principal)` is the topic owner's grant (the training stack's
    `Notifications.allow_service`); `http_api` adds the gateway's rows and its 5xx alarm.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: EnvironmentSettings,
        topic: sns.ITopic,
        graders: Mapping[str, GraderLike],
        state_machine: sfn.StateMachine,
        cost_allocation_tag: tuple[str, str],
        allow_service_to_publish: Callable[[str], None] | None = None,
        workflow_log_group: logs.ILogGroup | None = None,
        http_api: apigwv2.IHttpApi | None = None,
        gateway_metrics_namespace: str | None = None,
        reward_metrics_namespace: str = RewardMetric.DEFAULT_NAMESPACE,
        doctor_trusted_account: str | None = None,
        datasets_bucket: s3.IBucket | None = None,
        data_key: kms.IKey | None = None,
        **kwargs,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        default_timeout = cdk.Duration.seconds(settings.rewards.timeout_seconds)
        gateway = None
        if http_api is not None:
            gateway = (
                MonitoredGateway(http_api=http_api, metrics_namespace=gateway_metrics_namespace)
                if gateway_metrics_namespace
                else MonitoredGateway(http_api=http_api)
            )
        self.operations = Operations(
            self,
            "Operations",
            environment=settings.name,
            settings=settings.operations,
            topic=topic,
            graders={
                name: MonitoredGrader(
                    function=grader.function,
                    timeout=getattr(grader.function, "timeout", None) or default_timeout,
                )
                for name, grader in graders.items()
            },
            workflow=MonitoredWorkflow(state_machine=state_machine, log_group=workflow_log_group),
            gateway=gateway,
            cost_allocation_tag=cost_allocation_tag,
            budget_emails=settings.notification_emails,
            allow_service_to_publish=allow_service_to_publish,
            reward_metrics_namespace=reward_metrics_namespace,
        )
        if doctor_trusted_account is not None:
            self.doctor = DoctorRole(
                self,
                "Doctor",
                environment=settings.name,
                trusted_account=doctor_trusted_account,
                grader_aliases=[grader.alias for grader in graders.values()],
                state_machine=state_machine,
                topic=topic,
                http_api=http_api,
                datasets_bucket=datasets_bucket,
                data_key=data_key,
            )
        alarms = self.operations.alarms
        cdk.CfnOutput(
            self,
            names.BUDGET_OUTPUT,
            value=self.operations.budget.ref,
            description="The environment's monthly AWS Budgets budget (rft doctor checks it exists)",
        )
        cdk.CfnOutput(
            self,
            names.ALARMS_OUTPUT,
            value=self.to_json_string([alarms[key].alarm_name for key in sorted(alarms)]),
            description="JSON list: the names of the environment's alarms (rft doctor checks they exist)",
        )
        dashboard = self.operations.dashboard
        cdk.CfnOutput(
            self,
            "DashboardUrl",
            value=(
                f"https://{self.region}.console.aws.amazon.com/cloudwatch/home?region={self.region}"
                f"#dashboards:name={dashboard.dashboard_name}"
            ),
            description="The environment's operations dashboard (graders, training runs, gateway, alarms)",
        )
