"""Find a deployed environment's resources: nothing is typed by the user but the environment's name.

Every resource the client needs is a CloudFormation output of one of the environment's stacks. The
stage is named after the environment, so its stacks are ``<env>-Data``, ``<env>-Rewards``,
``<env>-Training`` and ``<env>-Serving``; the stack ids and output keys are listed once, in
``rft.names``, which the stacks use too. Outputs are read once per stack and cached for the
command's lifetime.

The region comes from ``--region``, then the environment's own settings (``rft.locate``: the
checkout's cdk.json, else where the deployed stacks were found), then ``AWS_REGION``,
``AWS_DEFAULT_REGION`` or the profile. An environment that is not deployed in that region is one
clear ``RftError`` that names the stack, the region, the environments that are there and what to do.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, overload

from rft import aws, locate
from rft.errors import RftError
from rft.names import (
    ARTIFACTS_BUCKET_OUTPUT,
    DATA_KEY_OUTPUT,
    DATA_STACK,
    DATASETS_BUCKET_OUTPUT,
    ENVIRONMENT_NAME_RULE,
    GATEWAY_URL_OUTPUT,
    GRADERS_OUTPUT,
    REGION_PATTERN,
    REWARDS_STACK,
    SERVING_STACK,
    STATE_MACHINE_OUTPUT,
    TOPIC_OUTPUT,
    TRAINING_STACK,
    is_environment_name,
    stack_name,
)
from rft.quoting import quote


class EnvironmentNotDeployedError(RftError):
    """A stack of the environment does not exist in the region asked (or not yet)."""


class MissingOutputError(RftError):
    """A stack exists but lacks an output the client needs (an older or partial deployment)."""


class RegionError(RftError):
    """No region could be found, or the one given is not a region."""


def resolve_region(region: str | None, session: Any) -> str:
    """``region``, else ``AWS_REGION``, else what the session (AWS_DEFAULT_REGION, profile) says."""
    chosen = region or os.environ.get("AWS_REGION") or getattr(session, "region_name", None)
    if not chosen:
        raise RegionError(
            "No AWS region is set: pass --region (e.g. --region us-west-2), set AWS_REGION, "
            "or set a region in your AWS profile."
        )
    if not REGION_PATTERN.fullmatch(chosen):
        raise RegionError(f"{quote(chosen)} is not an AWS region (expected a name such as us-west-2).")
    return chosen


class StackOutput:
    """A read-only attribute of an `Environment`: one output of one of its stacks (read on first
    use, like every output)."""

    def __init__(self, stack: str, key: str) -> None:
        self.stack, self.key = stack, key

    @overload
    def __get__(self, environment: None, owner: type) -> StackOutput: ...
    @overload
    def __get__(self, environment: Environment, owner: type) -> str: ...
    def __get__(self, environment: Environment | None, owner: type) -> StackOutput | str:
        if environment is None:
            return self
        return environment.output(self.stack, self.key)

    def __set__(self, environment: Environment, value: object) -> None:
        raise AttributeError(f"{self.key} is an output of the {self.stack} stack: it cannot be set")


@dataclass
class Environment:
    """One deployed environment in one account and region. Build with ``connect``."""

    name: str
    region: str
    session: Any
    account: str | None = None  # the account the environment's settings pin, checked on first use
    _outputs: dict[str, dict[str, str]] = field(default_factory=dict, repr=False)
    _clients: dict[str, Any] = field(default_factory=dict, repr=False)

    # --- clients --------------------------------------------------------------------------------

    def client(self, service: str) -> Any:
        """A boto3 client in the environment's region (one per service, reused)."""
        if service not in self._clients:
            self._clients[service] = aws.client(service, region=self.region, session=self.session)
        return self._clients[service]

    # --- stack outputs --------------------------------------------------------------------------

    def stack_name(self, stack: str) -> str:
        return stack_name(self.name, stack)

    def outputs(self, stack: str) -> Mapping[str, str]:
        if stack not in self._outputs:
            self._outputs[stack] = self._read_outputs(self.stack_name(stack))
        return self._outputs[stack]

    def output(self, stack: str, key: str) -> str:
        outputs = self.outputs(stack)
        value = outputs.get(key)
        if not value:
            raise MissingOutputError(
                f"Stack {self.stack_name(stack)} in {self.region} has no output {key!r}; redeploy "
                f"environment {self.name!r} with this version (make deploy ENV={self.name})."
            )
        return value

    def _read_outputs(self, stack_name: str) -> dict[str, str]:
        from botocore.exceptions import ClientError

        if not self._outputs:
            self._check_account()
        try:
            stacks = self.client("cloudformation").describe_stacks(StackName=stack_name)["Stacks"]
        except ClientError as exc:
            error = exc.response.get("Error", {})
            if error.get("Code") == "ValidationError" and "does not exist" in error.get("Message", ""):
                raise self._not_deployed(stack_name) from None
            raise
        if not stacks or stacks[0].get("StackStatus", "").startswith(("DELETE_COMPLETE", "CREATE_FAILED")):
            raise self._not_deployed(stack_name)
        if stacks[0].get("StackStatus") in (
            "CREATE_IN_PROGRESS",
            "ROLLBACK_COMPLETE",
            "ROLLBACK_IN_PROGRESS",
        ):
            raise EnvironmentNotDeployedError(
                f"Environment {self.name!r} is not ready in {self.region}: stack {stack_name} is "
                f"{stacks[0]['StackStatus']}."
            )
        return {o["OutputKey"]: o.get("OutputValue", "") for o in stacks[0].get("Outputs", [])}

    def _check_account(self) -> None:
        """Credentials for another account would find nothing, or another team's stacks."""
        if self.account is None:
            return
        caller = str(self.client("sts").get_caller_identity()["Account"])
        if caller != self.account:
            raise RftError(
                f"Environment {self.name!r} is in account {self.account}, but your credentials are for "
                f"account {caller}: use a profile of account {self.account} (--profile or AWS_PROFILE)."
            )

    def _not_deployed(self, stack_name: str) -> EnvironmentNotDeployedError:
        return EnvironmentNotDeployedError(
            f"Environment {self.name!r} is not deployed in {self.region} (stack {stack_name} does not "
            f"exist there{self._deployed_here()}): deploy it with 'make deploy ENV={self.name}', "
            "or pass its region with --region."
        )

    def _deployed_here(self) -> str:
        """'; deployed here: 'prod'' -- a courtesy of the error path, never a second failure."""
        try:
            names = locate.deployed_environments(self.client("cloudformation"))
        except Exception:
            return ""
        return f"; deployed in {self.region}: {locate.quoted_names(names)}" if names else ""

    def check_deployed(self) -> Environment:
        """Fail now, with the clear error, if the environment's data stack is not in this region
        (a command reading only SSM would otherwise find nothing and say so misleadingly)."""
        self.outputs(DATA_STACK)
        return self

    # --- resources ------------------------------------------------------------------------------

    datasets_bucket = StackOutput(DATA_STACK, DATASETS_BUCKET_OUTPUT)
    artifacts_bucket = StackOutput(DATA_STACK, ARTIFACTS_BUCKET_OUTPUT)
    data_key_arn = StackOutput(DATA_STACK, DATA_KEY_OUTPUT)
    state_machine_arn = StackOutput(TRAINING_STACK, STATE_MACHINE_OUTPUT)
    topic_arn = StackOutput(TRAINING_STACK, TOPIC_OUTPUT)
    gateway_url = StackOutput(SERVING_STACK, GATEWAY_URL_OUTPUT)

    def graders(self) -> dict[str, str]:
        """Grader name -> ARN of its live alias, from the rewards stack's output."""
        raw = self.output(REWARDS_STACK, GRADERS_OUTPUT)
        try:
            graders = json.loads(raw)
        except json.JSONDecodeError:
            graders = None
        if not isinstance(graders, dict):
            raise RftError(
                f"Output {GRADERS_OUTPUT} of {self.stack_name(REWARDS_STACK)} is not a JSON object."
            )
        return {str(name): str(arn) for name, arn in graders.items()}


SessionFactory = Callable[..., Any]


def _default_session(profile: str | None = None, region: str | None = None) -> Any:
    import boto3

    return boto3.session.Session(profile_name=profile, region_name=region)


def connect(
    name: str,
    *,
    region: str | None = None,
    profile: str | None = None,
    session_factory: SessionFactory = _default_session,
) -> Environment:
    """The environment ``name``: resolves the region; resources are read on first use."""
    if not is_environment_name(name):
        raise RftError(
            f"{quote(name)} is not an environment name ({ENVIRONMENT_NAME_RULE}, such as staging)."
        )
    session = session_factory(profile=profile, region=region)
    where = _settled_location(name, session) if region is None else None
    account = where.account if where else None
    if region is None and where is not None:
        region = where.region
    return Environment(name=name, region=resolve_region(region, session), session=session, account=account)


def _settled_location(name: str, session: Any) -> locate.Location | None:
    """Where the environment's settings say it is: cdk.json in a checkout; outside one, where it was
    found before, else (no region known at all) where a search of the regions finds its stacks."""
    cdk_json = locate.find_cdk_json()
    if cdk_json is not None:
        return locate.from_checkout(name, cdk_json)
    found = locate.remembered(name, None)
    if found is not None or os.environ.get("AWS_REGION") or getattr(session, "region_name", None):
        return found
    regions = session.get_available_regions("cloudformation")
    found = locate.search_regions(
        name, regions, lambda where: aws.client("cloudformation", region=where, session=session)
    )
    if found is None:
        raise locate.UnknownEnvironmentError(
            f"Environment {name!r} was not found: no region is set and no region your credentials can "
            "reach holds its stacks; pass --region, or run rft inside the project's checkout."
        )
    locate.remember(name, found)
    return found
