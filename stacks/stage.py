"""One deployment of rft-stack: every stack of one environment, in one account and region."""

from __future__ import annotations

import aws_cdk as cdk
from constructs import Construct

from stacks.config import EnvironmentSettings
from stacks.data_stack import DataStack
from stacks.rewards_stack import RewardsStack
from stacks.security import add_security_checks

PROJECT = "rft-stack"


class RftStage(cdk.Stage):
    def __init__(
        self, scope: Construct, construct_id: str, *, settings: EnvironmentSettings, **kwargs
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.data = DataStack(
            self, "Data", settings=settings, description=f"{PROJECT} {settings.name}: data plane"
        )
        self.rewards = RewardsStack(
            self, "Rewards", settings=settings, description=f"{PROJECT} {settings.name}: reward functions"
        )

        # "project" is also the cost-allocation tag the budget filters on.
        cdk.Tags.of(self).add("project", PROJECT)
        cdk.Tags.of(self).add("environment", settings.name)
        for key, value in settings.tags.items():
            cdk.Tags.of(self).add(key, value)
        add_security_checks(self)
