"""A step of the training workflow: a handler of `lambda_workflow/` behind a `live` alias."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from rft.names import LIVE_ALIAS
from stacks.constructs.bundle_manifest import package_manifest
from stacks.constructs.python_function import BundledPythonFunction

# The workflow's handlers and the modules of rft/ they import (never the client: rft/cli...).
WORKFLOW_SOURCES = package_manifest("lambda_workflow")
WORKFLOW_REQUIREMENTS = "lambda_workflow/requirements.txt"
# A task waits this much longer than its function may run, so the function's own timeout is
# what a slow step reports.
TASK_TIMEOUT_MARGIN = cdk.Duration.seconds(30)


class WorkflowFunction(Construct):
    """A handler of `lambda_workflow/` (bundled with `rft/`) behind a `live` alias.

    The role writes only to the function's own log group (the managed AWSLambdaBasicExecutionRole,
    which allows every log group, is removed); `allow` adds statements to one named policy.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        handler: str,
        description: str,
        log_retention_days: int,
        retain_logs: bool,
        log_key: kms.IKey,
        environment: Mapping[str, str],
        timeout: cdk.Duration,
        memory_size: int = 512,
    ) -> None:
        super().__init__(scope, construct_id)
        bundled = BundledPythonFunction(
            self,
            "Bundled",
            sources=list(WORKFLOW_SOURCES),
            handler=f"lambda_workflow.{handler}",
            requirements=WORKFLOW_REQUIREMENTS,
            description=description,
            log_retention_days=log_retention_days,
            retain_logs=retain_logs,
            log_key=log_key,
            memory_size=memory_size,
            timeout=timeout,
            environment=environment,
        )
        self.function: lambda_.Function = bundled.function
        self.log_group: logs.ILogGroup = bundled.log_group
        self.timeout = timeout
        self.role: iam.IRole = bundled.role
        self.alias = lambda_.Alias(
            self,
            "Live",
            alias_name=LIVE_ALIAS,
            version=self.function.current_version,
            description=description,
        )
        self._policy: iam.Policy | None = None

    @property
    def policy(self) -> iam.Policy:
        """The function's own permissions (created on first use: a policy needs a statement)."""
        if self._policy is None:
            self._policy = iam.Policy(self, "Permissions", roles=[self.role])
        return self._policy

    def allow(
        self, actions: Sequence[str], resources: Sequence[str], conditions: Mapping[str, object] | None = None
    ) -> None:
        self.policy.add_statements(
            iam.PolicyStatement(actions=list(actions), resources=list(resources), conditions=conditions)
        )

    @property
    def task_timeout(self) -> sfn.Timeout:
        """The timeout of a state machine task that invokes this function."""
        return sfn.Timeout.duration(self.timeout.plus(TASK_TIMEOUT_MARGIN))
