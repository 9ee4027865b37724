"""The reward (grader) Lambdas: one per folder of `lambda_rewards/` that holds a `handler.py`.

Adding a reward is adding a folder: the stack discovers it at synth. Each grader is reached
through its `live` alias; the map grader name -> alias ARN is a stack output and the SSM
parameter `/rft/<env>/graders` (JSON), where the client and the workflow look graders up.
"""

from __future__ import annotations

import types
from collections.abc import Mapping, Sequence

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from rft import names
from rft.catalog import judge_route
from stacks.config import EnvironmentSettings
from stacks.constructs.grader import REWARDS_ROOT, Grader, discover_graders, grader_construct_id
from stacks.constructs.isolated_network import IsolatedNetwork
from stacks.security import (
    CHECK_IN_A_VPC,
    calls_services_outside_a_vpc,
    cloudformation_resource,
    invoked_synchronously,
    shares_the_account_pool,
    skip_checkov,
)

JUDGE_GRADER = "llm_judge"
# The grader that runs model-written code: with `rewards.isolate_code_grader`, it runs in a network
# with no way out (stacks.constructs.isolated_network).
CODE_GRADER = "code_tests"
# Why each other grader runs outside a VPC (checkov CKV_AWS_117): a new grader needs its reason here,
# or `make test` reports it.
NO_CODE_EXECUTED = (
    "executes none of the model's output and calls no service, so a closed network would contain "
    "nothing; the grader that runs model-written code (code_tests) is the one in an isolated VPC"
)
OUTSIDE_A_VPC = {
    "math_answer": f"Compares the final answer with the reference as text and symbols: it {NO_CODE_EXECUTED}",
    "json_schema": f"Parses the answer as JSON and validates it against a schema: it {NO_CODE_EXECUTED}",
}
GRADER_CALLS = {JUDGE_GRADER: "Bedrock (Converse) with the configured judge models, once per sample"}
# The namespace of the graders' embedded-metric-format figures (set explicitly, so the dashboard
# and the alarms read the same name the graders write).
METRICS_NAMESPACE = "RftStack/Rewards"
# Converse and InvokeModel are both authorized by this action.
INVOKE_MODEL = "bedrock:InvokeModel"


def graders_parameter_name(environment: str) -> str:
    return names.parameter_path(environment, names.GRADERS)


def judge_model_statements(
    model_ids: Sequence[str], *, partition: str, region: str, account: str
) -> list[iam.PolicyStatement]:
    """The least privilege that lets the judge call exactly `model_ids` with Converse, each the
    way the catalog says this region calls it (rft.catalog.judge_route).

    A foundation model called in-region needs that model. An inference profile needs the profile
    (in this region and account) *and* the foundation model in every region the profile routes to,
    which Bedrock picks per request; those are allowed only through the profile
    (`bedrock:InferenceProfileArn`), so the role cannot call the bare model anywhere. A global
    profile routes to any commercial region: its model is granted in this region and, for the
    other regions, as the region-less ARN that Bedrock authorizes with `aws:RequestedRegion`
    "unspecified" (the Bedrock user guide's global cross-Region inference IAM example).
    """
    direct: list[str] = []
    through_profiles: list[iam.PolicyStatement] = []
    for model_id in dict.fromkeys(model_ids):
        route = judge_route(model_id, region)
        profile_arn = route.profile_arn(partition, region, account)
        if profile_arn is None:
            direct.extend(route.foundation_model_arns(partition))
            continue
        direct.append(profile_arn)
        through_profile = {"bedrock:InferenceProfileArn": profile_arn}
        through_profiles.append(
            iam.PolicyStatement(
                actions=[INVOKE_MODEL],
                resources=list(route.foundation_model_arns(partition)),
                conditions={"StringEquals": through_profile},
            )
        )
        anywhere = route.any_region_model_arn(partition)
        if anywhere is not None:
            through_profiles.append(
                iam.PolicyStatement(
                    actions=[INVOKE_MODEL],
                    resources=[anywhere],
                    conditions={"StringEquals": {**through_profile, "aws:RequestedRegion": "unspecified"}},
                )
            )
    return [iam.PolicyStatement(actions=[INVOKE_MODEL], resources=direct), *through_profiles]


class RewardsStack(cdk.Stack):
    """Every grader of `lambda_rewards/`, with the judge's model permissions and the alias map."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: EnvironmentSettings,
        data_key: kms.IKey,
        **kwargs,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        rewards = settings.rewards
        judge_models = rewards.judge_model_ids
        graders: dict[str, Grader] = {}
        grader_names = discover_graders(REWARDS_ROOT)
        self.code_grader_network: IsolatedNetwork | None = None
        if rewards.isolate_code_grader and CODE_GRADER in grader_names:
            self.code_grader_network = IsolatedNetwork(
                self,
                "CodeGraderNetwork",
                log_key=data_key,
                log_retention_days=settings.log_retention_days,
                retain_logs=settings.retain_data,
            )
        for name in grader_names:
            environment = {"REWARD_METRICS_NAMESPACE": METRICS_NAMESPACE}
            if name == JUDGE_GRADER:
                environment["JUDGE_MODEL_ID"] = judge_models[0]
                if len(judge_models) > 1:
                    environment["JUDGE_ALLOWED_MODEL_IDS"] = ",".join(judge_models[1:])
            if name == CODE_GRADER and rewards.code_tests_allow_unsandboxed:
                environment["CODE_TESTS_ALLOW_UNSANDBOXED"] = "true"  # unsafe: see the README
            graders[name] = Grader(
                self,
                grader_construct_id(name),
                name=name,
                memory_size=rewards.memory_mb,
                timeout=cdk.Duration.seconds(rewards.timeout_seconds),
                reserved_concurrent_executions=rewards.reserved_concurrency,
                log_retention_days=settings.log_retention_days,
                retain_logs=settings.retain_data,
                log_key=data_key,
                environment=environment,
                network=self.code_grader_network if name == CODE_GRADER else None,
            )
        self._graders = types.MappingProxyType(graders)
        for name, grader in graders.items():
            self._acknowledge_checkov(name, grader, settings)
        if JUDGE_GRADER in graders:
            self._allow_judge_models(graders[JUDGE_GRADER], judge_models)

        alias_arns = {name: grader.alias.function_arn for name, grader in graders.items()}
        alias_map = self.to_json_string(alias_arns)
        cdk.CfnOutput(
            self,
            names.GRADERS_OUTPUT,
            value=alias_map,
            description="JSON object: grader name -> ARN of its 'live' alias (what training jobs use)",
        )
        self.graders_parameter = ssm.StringParameter(
            self,
            "GradersParameter",
            parameter_name=graders_parameter_name(settings.name),
            string_value=alias_map,
            description="rft-stack graders: JSON object, grader name -> 'live' alias ARN",
        )

    @property
    def graders(self) -> Mapping[str, Grader]:
        """Grader name (its folder) -> Grader (`.function`, `.alias`, `.role`, `.log_group`)."""
        return self._graders

    @property
    def grader_names(self) -> tuple[str, ...]:
        """The deployed graders' names, sorted: the values a job request's `reward` may take."""
        return tuple(sorted(self._graders))

    @property
    def metrics_namespace(self) -> str:
        return METRICS_NAMESPACE

    def _acknowledge_checkov(self, name: str, grader: Grader, settings: EnvironmentSettings) -> None:
        function = grader.function
        invoked_synchronously(function, "Bedrock (or Mantle) with each batch of rollouts")
        if settings.rewards.reserved_concurrency is None:
            shares_the_account_pool(
                function,
                f"rewards.reserved_concurrency is null in environment '{settings.name}' (cdk.json): the "
                "graders use the account's unreserved pool; set it to cap them",
            )
        if name == CODE_GRADER:
            if self.code_grader_network is None:
                skip_checkov(
                    function,
                    CHECK_IN_A_VPC,
                    f"rewards.isolate_code_grader is false in environment '{settings.name}' (cdk.json): "
                    "the operator runs model-written code without its closed network (README, 'The "
                    "code grader's network')",
                )
        elif name in GRADER_CALLS:
            calls_services_outside_a_vpc(function, GRADER_CALLS[name])
        elif name in OUTSIDE_A_VPC:
            skip_checkov(function, CHECK_IN_A_VPC, OUTSIDE_A_VPC[name])

    def _allow_judge_models(self, judge: Grader, model_ids: Sequence[str]) -> None:
        policy = iam.Policy(
            judge,
            "InvokeJudgeModels",
            statements=judge_model_statements(
                model_ids, partition=self.partition, region=self.region, account=self.account
            ),
            roles=[judge.role],
        )
        # Deployed before the function, so the first invocation never meets a missing permission.
        cloudformation_resource(judge.function).node.add_dependency(policy)
