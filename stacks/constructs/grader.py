"""A reward (grader) Lambda: one folder of `lambda_rewards/`, bundled with `common/`, behind a
`live` alias.

Training jobs are given the alias ARN, never the function ARN, so a deployment moves every new
job to the new code at once and a running job's grants name a stable resource. The function's
role holds only what every grader needs (its own log group, X-Ray); anything more is granted by
the stack that composes the graders.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from rft import names
from rft.names import LIVE_ALIAS, REWARDS_PACKAGE
from stacks.constructs.isolated_network import IsolatedNetwork
from stacks.constructs.python_function import REPO_ROOT, BundledPythonFunction

REWARDS_ROOT = REPO_ROOT / REWARDS_PACKAGE
REQUIREMENTS_FILE = "requirements.txt"


def discover_graders(root: Path = REWARDS_ROOT) -> tuple[str, ...]:
    """The graders of the repository (or of `root`): `rft.names.discover_graders`."""
    return names.discover_graders(root)


def grader_construct_id(name: str) -> str:
    """`math_answer` -> `MathAnswer`."""
    return "".join(part.capitalize() for part in name.split("_"))


class Grader(Construct):
    """The Lambda function of one grader folder, its log group and its `live` alias."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        name: str,
        memory_size: int,
        timeout: cdk.Duration,
        log_retention_days: int,
        retain_logs: bool,
        log_key: kms.IKey,
        reserved_concurrent_executions: int | None = None,
        environment: Mapping[str, str] | None = None,
        network: IsolatedNetwork | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.name = name
        folder = f"{REWARDS_PACKAGE}/{name}"
        requirements = f"{folder}/{REQUIREMENTS_FILE}"
        bundled = BundledPythonFunction(
            self,
            "Bundled",
            sources=[f"{REWARDS_PACKAGE}/__init__.py", f"{REWARDS_PACKAGE}/common", folder],
            handler=f"{REWARDS_PACKAGE}.{name}.handler.handler",
            requirements=requirements if (REPO_ROOT / requirements).is_file() else None,
            description=f"rft-stack reward function '{name}'",
            log_retention_days=log_retention_days,
            retain_logs=retain_logs,
            log_key=log_key,
            memory_size=memory_size,
            timeout=timeout,
            environment=environment,
            reserved_concurrent_executions=reserved_concurrent_executions,
            network=network,
        )
        self.function: lambda_.Function = bundled.function
        self.log_group: logs.ILogGroup = bundled.log_group
        self.role: iam.IRole = bundled.role
        self.alias: lambda_.Alias = lambda_.Alias(
            self,
            "Live",
            alias_name=LIVE_ALIAS,
            version=self.function.current_version,
            description=f"The version of '{name}' that training jobs invoke",
        )
