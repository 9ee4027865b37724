#!/usr/bin/env python3
"""The CDK app: the only place that reads context and the process environment.

`cdk synth -c env=staging` builds one environment's stage; without `env`, every stage is built.
"""

from __future__ import annotations

import os
import sys

import aws_cdk as cdk

from stacks.config import (
    ConfigError,
    EnvironmentSettings,
    load_environments,
    load_pipeline,
    promotion_accounts,
)
from stacks.pipeline_stack import DeliveryPipelineStack
from stacks.security import add_security_checks
from stacks.stage import RftStage

PIPELINE_STACK_ID = "Pipeline"


def build_app(app: cdk.App) -> dict[str, RftStage]:
    """Every environment's stage, by name.

    With a `pipeline` in cdk.json, the environments it deploys are built inside the pipeline stack
    (the pipeline deploys them); the others, and any environment chosen with `-c env=NAME` (a
    deployment by hand), are built on their own.
    """
    environments = load_environments(app.node.try_get_context("environments"))
    pipeline = load_pipeline(app.node.try_get_context("pipeline"), environments)
    selected = app.node.try_get_context("env")
    if selected is not None and selected not in environments:
        raise ConfigError(
            str(selected), "env", f"unknown environment; cdk.json defines: {', '.join(environments)}"
        )
    stages: dict[str, RftStage] = {}
    if pipeline is not None and selected is None:
        stack = DeliveryPipelineStack(
            app,
            PIPELINE_STACK_ID,
            pipeline=pipeline,
            environments=environments,
            env=cdk.Environment(account=pipeline.account, region=pipeline.region),
        )
        add_security_checks(app)  # the pipeline stack itself; each stage adds its own checks
        stages.update(stack.stages)
    chosen = [environments[selected]] if selected else [s for n, s in environments.items() if n not in stages]
    for settings in chosen:
        stages[settings.name] = RftStage(
            app,
            settings.name,
            settings=settings,
            env=_target(settings),
            promote_to=promotion_accounts(settings.name, environments),
        )
    return stages


def _target(settings: EnvironmentSettings) -> cdk.Environment:
    return cdk.Environment(
        account=settings.account or os.environ.get("CDK_DEFAULT_ACCOUNT"), region=settings.region
    )


def main() -> int:
    app = cdk.App()
    try:
        build_app(app)
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    app.synth()
    return 0


if __name__ == "__main__":
    sys.exit(main())
