"""A step of the training workflow: a handler of `lambda_workflow/` behind a `live` alias."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Unpack

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from stacks.constructs.bundle_manifest import package_manifest
from stacks.constructs.live_function import FunctionOptions, LiveFunction
from stacks.security import acknowledge_wildcard

# The workflow's handlers and the modules of rft/ they import (never the client: rft/cli...).
WORKFLOW_SOURCES = package_manifest("lambda_workflow")
WORKFLOW_REQUIREMENTS = "lambda_workflow/requirements.txt"
# A task waits this much longer than its function may run, so the function's own timeout is
# what a slow step reports.
TASK_TIMEOUT_MARGIN = cdk.Duration.seconds(30)


class WorkflowFunction(LiveFunction):
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
        **options: Unpack[FunctionOptions],
    ) -> None:
        super().__init__(
            scope,
            construct_id,
            sources=list(WORKFLOW_SOURCES),
            handler=f"lambda_workflow.{handler}",
            requirements=WORKFLOW_REQUIREMENTS,
            description=description,
            alias_description=description,
            **options,
        )
        self.timeout = options["timeout"]
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

    def allow_wildcard(
        self, actions: Sequence[str], resource: str, reason: str, *, nag_form: str | None = None
    ) -> None:
        """`allow` on one resource that holds a wildcard, and the cdk-nag acknowledgment saying why;
        `nag_form` is how cdk-nag spells `resource` when it refers to another stack
        (`security.referenced`)."""
        self.allow(actions, [resource])
        acknowledge_wildcard(self.policy, nag_form or resource, reason)

    @property
    def task_timeout(self) -> sfn.Timeout:
        """The timeout of a state machine task that invokes this function."""
        return sfn.Timeout.duration(self.timeout.plus(TASK_TIMEOUT_MARGIN))

    def invoke(
        self,
        scope: Construct,
        name: str,
        payload: Mapping[str, object],
        *,
        comment: str,
        result_selector: Mapping[str, object] | None = None,
        result_path: str | None = None,
        output_path: str | None = None,
        integration_pattern: sfn.IntegrationPattern | None = None,
        task_timeout: sfn.Timeout | None = None,
    ) -> tasks.LambdaInvoke:
        """The Task state `name` (a child of `scope`) that invokes this step through its `live`
        alias with `payload`; it times out with the function unless `task_timeout` says otherwise."""
        return tasks.LambdaInvoke(
            scope,
            name,
            comment=comment,
            lambda_function=self.alias,
            integration_pattern=integration_pattern,
            payload=sfn.TaskInput.from_object(dict(payload)),
            result_selector=dict(result_selector) if result_selector else None,
            result_path=result_path,
            output_path=output_path,
            task_timeout=task_timeout or self.task_timeout,
        )
