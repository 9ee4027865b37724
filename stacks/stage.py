"""One deployment of rft-stack: every stack of one environment, in one account and region."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypedDict

import aws_cdk as cdk
from constructs import Construct

from rft import PROJECT, names
from stacks.config import EnvironmentSettings
from stacks.data_stack import DataStack
from stacks.operations_stack import OperationsStack
from stacks.rewards_stack import RewardsStack
from stacks.security import add_security_checks
from stacks.serving_stack import ServingStack
from stacks.training_stack import TrainingStack
from stacks.version import source_version


class StackOptions(TypedDict):
    """What every stack of a stage is given besides its own inputs."""

    settings: EnvironmentSettings
    description: str


class RftStage(cdk.Stage):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: EnvironmentSettings,
        doctor_trusted_account: str | None = None,
        promote_to: Mapping[str, str] | None = None,
        **kwargs,
    ) -> None:
        """`doctor_trusted_account`: the delivery pipeline's account, whose post-deploy step assumes
        the environment's doctor role; None (a stage deployed by hand) creates no such role.
        `promote_to`: the accounts models are promoted to, by environment name
        (`stacks.config.promotion_accounts`); each may use the data key through Bedrock."""
        super().__init__(scope, construct_id, **kwargs)

        def options(holds: str) -> StackOptions:
            return {"settings": settings, "description": f"{PROJECT} {settings.name}: {holds}"}

        self.data = DataStack(self, names.DATA_STACK, **options("data plane"))
        self.data.allow_promotion_to(promote_to or {})
        self.rewards = RewardsStack(
            self, names.REWARDS_STACK, data_key=self.data.data_key, **options("reward functions")
        )
        self.training = TrainingStack(
            self,
            names.TRAINING_STACK,
            data_plane=self.data,
            graders=self.rewards.graders,
            **options("training workflow"),
        )
        self.serving = ServingStack(
            self, names.SERVING_STACK, data_key=self.data.data_key, **options("OpenAI-compatible gateway")
        )
        self.operations = OperationsStack(
            self,
            names.OPERATIONS_STACK,
            topic=self.training.topic,
            allow_service_to_publish=self.training.notifications.allow_service,
            graders=self.rewards.graders,
            reward_metrics_namespace=self.rewards.metrics_namespace,
            state_machine=self.training.state_machine,
            workflow_log_group=self.training.workflow.log_group,
            http_api=self.serving.api,
            gateway_metrics_namespace=self.serving.metrics_namespace,
            cost_allocation_tag=("project", PROJECT),
            doctor_trusted_account=doctor_trusted_account,
            datasets_bucket=self.data.datasets_bucket,
            data_key=self.data.data_key,
            **options("dashboard, alarms and budget"),
        )

        version = source_version()
        for stack in (self.data, self.rewards, self.training, self.serving, self.operations):
            cdk.CfnOutput(
                stack,
                names.VERSION_OUTPUT,
                value=version,
                description="The rft-stack version (release+source digest) this stack was deployed from",
            )

        # Last, so every log group of every stack is covered by the data key's policy.
        self.data.allow_log_groups_of(c for c in self.node.children if isinstance(c, cdk.Stack))

        # "project" is also the cost-allocation tag the budget filters on.
        cdk.Tags.of(self).add("project", PROJECT)
        cdk.Tags.of(self).add("environment", settings.name)
        for key, value in settings.tags.items():
            cdk.Tags.of(self).add(key, value)
        add_security_checks(self)
