#!/usr/bin/env python3
"""The CDK app: the only place that reads context and the process environment.

`cdk synth -c env=staging` builds one environment's stage; without `env`, every stage is built.
"""

from __future__ import annotations

import os
import sys

import aws_cdk as cdk

from stacks.config import ConfigError, EnvironmentSettings, load_environments
from stacks.stage import RftStage


def build_app(app: cdk.App) -> dict[str, RftStage]:
    environments = load_environments(app.node.try_get_context("environments"))
    selected = app.node.try_get_context("env")
    if selected is not None and selected not in environments:
        raise ConfigError(
            str(selected), "env", f"unknown environment; cdk.json defines: {', '.join(environments)}"
        )
    chosen = [environments[selected]] if selected else list(environments.values())
    stages = {
        settings.name: RftStage(app, settings.name, settings=settings, env=_target(settings))
        for settings in chosen
    }
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
