"""A bundled function of this repository behind a `live` alias: what a grader and a workflow step
have in common.

Callers (training jobs, the state machine) are given the alias ARN, never the function ARN, so a
deployment moves every new call to the new code at once and grants name a stable resource.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import NotRequired, TypedDict, Unpack

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from rft.names import LIVE_ALIAS
from stacks.constructs.isolated_network import IsolatedNetwork
from stacks.constructs.python_function import BundledPythonFunction


class FunctionOptions(TypedDict):
    """The settings a composing stack chooses for a function; `BundledPythonFunction` takes them
    as they are."""

    log_retention_days: int
    retain_logs: bool
    log_key: kms.IKey
    timeout: cdk.Duration
    memory_size: NotRequired[int]
    environment: NotRequired[Mapping[str, str] | None]
    reserved_concurrent_executions: NotRequired[int | None]
    network: NotRequired[IsolatedNetwork | None]


class BundleOptions(FunctionOptions):
    """What a `LiveFunction` bundles and runs, beside the composing stack's settings."""

    sources: Sequence[str]
    handler: str
    requirements: str | None
    description: str


class LiveFunction(Construct):
    """The function ("Bundled") of `sources` and its `live` alias ("Live") on the current version."""

    def __init__(
        self, scope: Construct, construct_id: str, *, alias_description: str, **bundle: Unpack[BundleOptions]
    ) -> None:
        super().__init__(scope, construct_id)
        bundled = BundledPythonFunction(self, "Bundled", **bundle)
        self.function: lambda_.Function = bundled.function
        self.log_group: logs.ILogGroup = bundled.log_group
        self.role: iam.IRole = bundled.role
        self.alias: lambda_.Alias = lambda_.Alias(
            self,
            "Live",
            alias_name=LIVE_ALIAS,
            version=self.function.current_version,
            description=alias_description,
        )
