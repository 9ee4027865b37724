from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_lambda as lambda_
from aws_cdk.assertions import Template

from stacks.constructs.grader import REWARDS_ROOT, Grader, discover_graders, grader_construct_id
from stacks.rewards_stack import (
    METRICS_NAMESPACE,
    RewardsStack,
    graders_parameter_name,
    judge_model_statements,
)
from stacks.stage import RftStage
from tests.infra.helpers import new_app, settings, template

REGION = "us-west-2"
ACCOUNT = "${AWS::AccountId}"  # how `_render` shows the environment-agnostic account
PROFILES = ["us.amazon.nova-lite-v1:0", "us.amazon.nova-pro-v1:0"]
# The regions the `us.` profiles route to (rft.assumptions.JUDGE_MODEL_REGIONS).
US_PROFILE_REGIONS = ("us-east-1", "us-east-2", "us-west-2")


def _graders_on_disk() -> set[str]:
    return {p.parent.name for p in REWARDS_ROOT.glob("*/handler.py")} - {"common"}


def _stage(name: str, **overrides: Any) -> tuple[cdk.App, RftStage]:
    app = new_app()
    stage = RftStage(app, name, settings=settings(name, **overrides), env=cdk.Environment(region=REGION))
    return app, stage


@functools.cache
def _rewards(name: str) -> tuple[RewardsStack, Template]:
    """The rewards stack of environment `name` as configured, and its template (built once)."""
    stack = _stage(name)[1].rewards
    return stack, template(stack)


@pytest.fixture(scope="module")
def staging_stack() -> RewardsStack:
    return _rewards("staging")[0]


@pytest.fixture(scope="module")
def staging() -> Template:
    return _rewards("staging")[1]


@pytest.fixture(scope="module")
def profiles_app() -> tuple[cdk.App, RftStage]:
    return _stage("staging", rewards={"judge_model_ids": PROFILES})


def _render(value: Any) -> Any:
    """Template values as plain strings: `Fn::Join` joined, pseudo-parameter refs as `${...}`."""
    if isinstance(value, dict):
        if set(value) == {"Fn::Join"}:
            separator, parts = value["Fn::Join"]
            return separator.join(str(_render(p)) for p in parts)
        if set(value) == {"Ref"} and value["Ref"].startswith("AWS::"):
            return "${" + value["Ref"] + "}"
        return {k: _render(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_render(v) for v in value]
    return value


def _as_list(value: Any) -> list:
    return value if isinstance(value, list) else [value]


def _logical_id(stack: cdk.Stack, construct) -> str:
    return stack.get_logical_id(construct.node.default_child)


def _function(stack: RewardsStack, t, name: str) -> dict:
    return t.to_json()["Resources"][_logical_id(stack, stack.graders[name].function)]


def _role_statements(stack: RewardsStack, t, grader: Grader) -> list[dict]:
    """Every statement of every IAM policy attached to the grader's role."""
    role_id = _logical_id(stack, grader.role)
    statements = []
    for policy in t.find_resources("AWS::IAM::Policy").values():
        if {"Ref": role_id} in policy["Properties"]["Roles"]:
            statements += _render(policy["Properties"]["PolicyDocument"]["Statement"])
    return statements


def _bedrock_statements(statements: list[dict]) -> list[dict]:
    return [s for s in statements if any(a.startswith("bedrock") for a in _as_list(s["Action"]))]


# ------------------------------------------------------------------------------ discovery


def test_discovery_keeps_folders_with_a_handler_and_ignores_common_and_the_rest(tmp_path: Path):
    for folder in ("common", "math_answer", "json_schema", "half_written", "__pycache__", "notes"):
        (tmp_path / folder).mkdir()
    for grader in ("common", "math_answer", "json_schema"):
        (tmp_path / grader / "handler.py").write_text("def handler(event, context): ...\n")
    (tmp_path / "half_written" / "grader.py").write_text("")
    (tmp_path / "handler.py").write_text("")  # a file at the root is not a grader
    (tmp_path / "notes" / "handler.py").mkdir()  # nor is a directory named handler.py

    assert discover_graders(tmp_path) == ("json_schema", "math_answer")


def test_a_grader_folder_that_cannot_be_imported_is_a_clear_error(tmp_path: Path):
    (tmp_path / "math-answer").mkdir()
    (tmp_path / "math-answer" / "handler.py").write_text("")
    with pytest.raises(ValueError, match=r"math-answer: a grader folder name must be a lower-case Python"):
        discover_graders(tmp_path)


def test_discovery_of_the_repository_finds_every_grader_folder():
    assert set(discover_graders()) == _graders_on_disk()
    assert {"math_answer", "json_schema", "llm_judge", "code_tests"} <= _graders_on_disk()


def test_construct_ids_follow_the_folder_names():
    assert grader_construct_id("math_answer") == "MathAnswer"
    assert grader_construct_id("llm_judge") == "LlmJudge"


# ------------------------------------------------------------------------------ functions


def test_one_function_and_one_live_alias_per_grader_folder(staging_stack, staging):
    assert set(staging_stack.graders) == _graders_on_disk()
    assert staging_stack.grader_names == tuple(sorted(_graders_on_disk()))
    staging.resource_count_is("AWS::Lambda::Function", len(_graders_on_disk()))
    aliases = staging.find_resources("AWS::Lambda::Alias")
    versions = staging.find_resources("AWS::Lambda::Version")
    assert len(aliases) == len(_graders_on_disk())
    for name, grader in staging_stack.graders.items():
        assert grader.name == name
        assert isinstance(grader.function, lambda_.Function)
        assert isinstance(grader.alias, lambda_.Alias)
        alias = aliases[_logical_id(staging_stack, grader.alias)]["Properties"]
        assert alias["Name"] == "live"
        assert alias["FunctionName"] == {"Ref": _logical_id(staging_stack, grader.function)}
        version_id, attribute = alias["FunctionVersion"]["Fn::GetAtt"]
        assert attribute == "Version"
        assert versions[version_id]["Properties"]["FunctionName"] == alias["FunctionName"]


def test_functions_run_the_newest_python_on_arm64_with_the_grader_handler(staging_stack, staging):
    for name in staging_stack.graders:
        props = _function(staging_stack, staging, name)["Properties"]
        assert props["Runtime"] == "python3.14"
        assert props["Architectures"] == ["arm64"]
        assert props["Handler"] == f"lambda_rewards.{name}.handler.handler"
        assert props["TracingConfig"] == {"Mode": "Active"}
        assert props["Environment"]["Variables"]["REWARD_METRICS_NAMESPACE"] == METRICS_NAMESPACE


def test_memory_and_timeout_come_from_the_settings():
    _, stage = _stage("staging", rewards={"memory_mb": 2048, "timeout_seconds": 600})
    t = template(stage.rewards)
    for name in stage.rewards.graders:
        props = _function(stage.rewards, t, name)["Properties"]
        assert (props["MemorySize"], props["Timeout"]) == (2048, 600)


def test_default_memory_and_timeout(staging_stack, staging):
    for name in staging_stack.graders:
        props = _function(staging_stack, staging, name)["Properties"]
        assert (props["MemorySize"], props["Timeout"]) == (1024, 300)


def test_prod_reserves_concurrency_and_staging_does_not(staging_stack, staging):
    prod_stack, prod = _rewards("prod")
    for name in prod_stack.graders:
        assert _function(prod_stack, prod, name)["Properties"]["ReservedConcurrentExecutions"] == 50
    for name in staging_stack.graders:
        assert "ReservedConcurrentExecutions" not in _function(staging_stack, staging, name)["Properties"]


@pytest.mark.parametrize(("env", "days", "deletion"), [("staging", 30, "Delete"), ("prod", 365, "Retain")])
def test_each_function_logs_to_its_own_log_group_with_the_configured_retention(env, days, deletion):
    stack, t = _rewards(env)
    log_groups = t.find_resources("AWS::Logs::LogGroup")
    flow_logs = [_logical_id(stack, stack.code_grader_network.flow_log_group)]  # the code grader's VPC
    assert len(log_groups) == len(stack.graders) + len(flow_logs)
    for name, grader in stack.graders.items():
        group_id = _logical_id(stack, grader.log_group)
        props = _function(stack, t, name)["Properties"]
        assert props["LoggingConfig"]["LogGroup"] == {"Ref": group_id}
        assert log_groups[group_id]["Properties"]["RetentionInDays"] == days
        assert log_groups[group_id]["DeletionPolicy"] == deletion


# ------------------------------------------------------------------------------ permissions


def test_no_role_uses_a_managed_policy(staging):
    for role in staging.find_resources("AWS::IAM::Role").values():
        assert "ManagedPolicyArns" not in role["Properties"]


def test_graders_write_only_their_own_log_group_and_traces(staging_stack, staging):
    for grader in staging_stack.graders.values():
        statements = _role_statements(staging_stack, staging, grader)
        logs = [s for s in statements if any(a.startswith("logs:") for a in _as_list(s["Action"]))]
        assert logs == [
            {
                "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                "Effect": "Allow",
                "Resource": {"Fn::GetAtt": [_logical_id(staging_stack, grader.log_group), "Arn"]},
            }
        ]
        xray = [s for s in statements if any(a.startswith("xray:") for a in _as_list(s["Action"]))]
        assert [sorted(_as_list(s["Action"])) for s in xray] == [
            ["xray:PutTelemetryRecords", "xray:PutTraceSegments"]
        ]


def test_the_judge_calls_only_the_configured_model(staging_stack, staging):
    judge = staging_stack.graders["llm_judge"]
    variables = _function(staging_stack, staging, "llm_judge")["Properties"]["Environment"]["Variables"]
    assert variables["JUDGE_MODEL_ID"] == "us.amazon.nova-lite-v1:0"  # us-west-2: only via the profile
    assert "JUDGE_ALLOWED_MODEL_IDS" not in variables
    # The model permission exists before the function does.
    (policy_id,) = [
        k for k, p in staging.find_resources("AWS::IAM::Policy").items() if "bedrock" in json.dumps(p)
    ]
    assert policy_id in _function(staging_stack, staging, "llm_judge")["DependsOn"]
    profile = f"arn:aws:bedrock:{REGION}:{ACCOUNT}:inference-profile/us.amazon.nova-lite-v1:0"
    assert _bedrock_statements(_role_statements(staging_stack, staging, judge)) == [
        {"Action": "bedrock:InvokeModel", "Effect": "Allow", "Resource": profile},
        {
            "Action": "bedrock:InvokeModel",
            "Condition": {"StringEquals": {"bedrock:InferenceProfileArn": profile}},
            "Effect": "Allow",
            "Resource": [
                f"arn:aws:bedrock:{region}::foundation-model/amazon.nova-lite-v1:0"
                for region in US_PROFILE_REGIONS
            ],
        },
    ]


def test_a_judge_model_offered_in_region_is_called_directly():
    app = new_app()
    stage = RftStage(
        app,
        "nova",
        settings=settings(
            "staging",
            region="us-east-1",
            allowed_base_models=["amazon.nova-2-lite-v1:0:256k"],
            rewards={"judge_model_ids": ["amazon.nova-lite-v1:0"]},
        ),
        env=cdk.Environment(region="us-east-1"),
    )
    stack = stage.rewards
    statements = _bedrock_statements(_role_statements(stack, template(stack), stack.graders["llm_judge"]))
    assert statements == [
        {
            "Action": "bedrock:InvokeModel",
            "Effect": "Allow",
            "Resource": "arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-lite-v1:0",
        }
    ]


def test_graders_other_than_the_judge_get_no_bedrock_permission_and_no_judge_settings(staging_stack, staging):
    others = {n: g for n, g in staging_stack.graders.items() if n != "llm_judge"}
    assert others
    for name, grader in others.items():
        statements = _role_statements(staging_stack, staging, grader)
        actions = {a for s in statements for a in _as_list(s["Action"]) if not a.startswith("ec2:")}
        assert actions == {"logs:CreateLogStream", "logs:PutLogEvents", "xray:PutTelemetryRecords",
                           "xray:PutTraceSegments"}  # fmt: skip
        # Only the isolated code grader manages network interfaces (test_code_grader_isolation.py).
        attaches = any(a.startswith("ec2:") for s in statements for a in _as_list(s["Action"]))
        assert attaches is (name == "code_tests")
        variables = _function(staging_stack, staging, name)["Properties"]["Environment"]["Variables"]
        assert not any(key.startswith("JUDGE_") for key in variables)


def test_inference_profiles_allow_the_profile_and_its_model_only_through_it(profiles_app):
    _, stage = profiles_app
    stack, t = stage.rewards, template(stage.rewards)
    variables = _function(stack, t, "llm_judge")["Properties"]["Environment"]["Variables"]
    assert variables["JUDGE_MODEL_ID"] == "us.amazon.nova-lite-v1:0"
    assert variables["JUDGE_ALLOWED_MODEL_IDS"] == "us.amazon.nova-pro-v1:0"

    statements = _bedrock_statements(_role_statements(stack, t, stack.graders["llm_judge"]))
    lite = f"arn:aws:bedrock:{REGION}:{ACCOUNT}:inference-profile/us.amazon.nova-lite-v1:0"
    pro = f"arn:aws:bedrock:{REGION}:{ACCOUNT}:inference-profile/us.amazon.nova-pro-v1:0"
    unconditioned = [s for s in statements if "Condition" not in s]
    assert len(unconditioned) == 1
    assert sorted(_as_list(unconditioned[0]["Resource"])) == sorted([lite, pro])
    conditioned = {
        s["Condition"]["StringEquals"]["bedrock:InferenceProfileArn"]: sorted(_as_list(s["Resource"]))
        for s in statements
        if "Condition" in s
    }
    assert conditioned == {
        profile: [f"arn:aws:bedrock:{region}::foundation-model/{model}" for region in US_PROFILE_REGIONS]
        for profile, model in ((lite, "amazon.nova-lite-v1:0"), (pro, "amazon.nova-pro-v1:0"))
    }
    assert all(_as_list(s["Action"]) == ["bedrock:InvokeModel"] for s in statements)


def test_inference_profiles_pass_the_security_gate(profiles_app):
    app, _ = profiles_app
    app.synth()  # raises ValidationFailed on an unacknowledged cdk-nag finding


def test_judge_statements_deduplicate_model_ids():
    (statement,) = judge_model_statements(
        ["amazon.nova-lite-v1:0", "amazon.nova-lite-v1:0"], partition="aws", region="us-east-1", account="1"
    )
    assert statement.to_json() == {
        "Action": "bedrock:InvokeModel",
        "Effect": "Allow",
        "Resource": "arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-lite-v1:0",
    }


# ------------------------------------------------------------------------------ outputs


def test_the_alias_map_is_an_output_and_an_ssm_parameter(staging_stack, staging):
    expected = {name: f"<{_logical_id(staging_stack, g.alias)}>" for name, g in staging_stack.graders.items()}

    def as_map(value: Any) -> dict[str, str]:
        parts = value["Fn::Join"][1] if isinstance(value, dict) else [value]
        text = "".join(p if isinstance(p, str) else f"<{p['Ref']}>" for p in parts)
        return json.loads(text)

    output = staging.find_outputs("GraderAliasArns")["GraderAliasArns"]
    assert as_map(output["Value"]) == expected
    (parameter,) = staging.find_resources("AWS::SSM::Parameter").values()
    assert parameter["Properties"]["Name"] == graders_parameter_name("staging") == "/rft/staging/graders"
    assert parameter["Properties"]["Type"] == "String"
    assert as_map(parameter["Properties"]["Value"]) == expected


def test_the_code_grader_fails_closed_unless_the_unsafe_setting_is_on(staging_stack, staging):
    variables = _function(staging_stack, staging, "code_tests")["Properties"]["Environment"]["Variables"]
    assert "CODE_TESTS_ALLOW_UNSANDBOXED" not in variables
    _, stage = _stage("staging", rewards={"code_tests_allow_unsandboxed": True})
    stack = stage.rewards
    variables = _function(stack, template(stack), "code_tests")["Properties"]["Environment"]["Variables"]
    assert variables["CODE_TESTS_ALLOW_UNSANDBOXED"] == "true"
    others = [name for name in stack.graders if name != "code_tests"]
    for name in others:
        environment = _function(stack, template(stack), name)["Properties"]["Environment"]["Variables"]
        assert "CODE_TESTS_ALLOW_UNSANDBOXED" not in environment


HAIKU = "anthropic.claude-haiku-4-5-20251001-v1:0"


def test_a_global_profile_grants_its_model_here_and_region_less_only_through_the_profile():
    statements = [
        s.to_json()
        for s in judge_model_statements([f"global.{HAIKU}"], partition="aws", region=REGION, account="1")
    ]
    profile = f"arn:aws:bedrock:{REGION}:1:inference-profile/global.{HAIKU}"
    assert statements == [
        {"Action": "bedrock:InvokeModel", "Effect": "Allow", "Resource": profile},
        {
            "Action": "bedrock:InvokeModel",
            "Effect": "Allow",
            "Resource": f"arn:aws:bedrock:{REGION}::foundation-model/{HAIKU}",
            "Condition": {"StringEquals": {"bedrock:InferenceProfileArn": profile}},
        },
        {
            "Action": "bedrock:InvokeModel",
            "Effect": "Allow",
            "Resource": f"arn:aws:bedrock:::foundation-model/{HAIKU}",
            "Condition": {
                "StringEquals": {"bedrock:InferenceProfileArn": profile, "aws:RequestedRegion": "unspecified"}
            },
        },
    ]


@pytest.mark.parametrize(
    "model_id",
    [
        f"global.{HAIKU}",
        f"us.{HAIKU}",
        "us.meta.llama4-scout-17b-instruct-v1:0",
        "openai.gpt-oss-120b-1:0",
        "mistral.mistral-large-2407-v1:0",
        "us.amazon.nova-premier-v1:0",
    ],
)
def test_every_judge_route_is_granted_on_resources_the_iam_reference_knows(model_id):
    from tests.contract.iam_reference import statement_problems

    for statement in judge_model_statements([model_id], partition="aws", region=REGION, account="1"):
        body = statement.to_json()
        resources = body["Resource"] if isinstance(body["Resource"], list) else [body["Resource"]]
        assert not statement_problems([body["Action"]], resources), body


def test_an_environment_with_a_non_nova_judge_synthesizes_with_its_grants():
    _, stage = _stage("staging", rewards={"judge_model_ids": [f"global.{HAIKU}", "openai.gpt-oss-20b-1:0"]})
    stack, t = stage.rewards, template(stage.rewards)
    variables = _function(stack, t, "llm_judge")["Properties"]["Environment"]["Variables"]
    assert variables["JUDGE_MODEL_ID"] == f"global.{HAIKU}"
    resources = {r for s in _bedrock_statements(_role_statements(stack, t, stack.graders["llm_judge"]))
                 for r in _as_list(s["Resource"])}  # fmt: skip
    assert f"arn:aws:bedrock:::foundation-model/{HAIKU}" in resources
    assert f"arn:aws:bedrock:{REGION}::foundation-model/openai.gpt-oss-20b-1:0" in resources
