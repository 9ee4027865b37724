"""Every log group of every stack is encrypted with the environment's data key, and the key's
policy lets CloudWatch Logs use it for exactly the log groups those stacks create."""

from __future__ import annotations

import fnmatch
from typing import Any

import aws_cdk as cdk
import pytest

from rft.assumptions import GENERATED_NAMES
from stacks.constructs.log_retention import encrypted_log_group
from stacks.data_stack import creates_log_groups
from stacks.stage import RftStage
from tests.infra.helpers import build_stage, configured_stage, stacks_of, template

LOGS_CONTEXT_KEY = "kms:EncryptionContext:aws:logs:arn"


def data_key_logical_id(rft_stage: RftStage) -> str:
    return rft_stage.data.resolve(rft_stage.data.data_key.node.default_child.logical_id)


def key_policy_statements(rft_stage: RftStage) -> list[dict[str, Any]]:
    resources = template(rft_stage.data).to_json()["Resources"]
    return resources[data_key_logical_id(rft_stage)]["Properties"]["KeyPolicy"]["Statement"]


def logs_patterns(rft_stage: RftStage) -> list[str]:
    """The ARN patterns of the key policy's CloudWatch Logs statement, with pseudo parameters filled."""
    (statement,) = [
        s
        for s in key_policy_statements(rft_stage)
        if s.get("Principal", {}).get("Service") == f"logs.{rft_stage.region}.amazonaws.com"
    ]
    assert statement["Effect"] == "Allow"
    assert set(statement["Condition"]) == {"ArnLike"}, "the only condition names the log groups"
    return [resolve_join(p) for p in statement["Condition"]["ArnLike"][LOGS_CONTEXT_KEY]]


def resolve_join(value: Any) -> str:
    """A string, a pseudo parameter or a join of both, with this test's account and region."""
    if isinstance(value, str):
        return value
    if "Ref" in value:
        return {"AWS::Partition": "aws", "AWS::AccountId": "111122223333", "AWS::Region": "us-west-2"}[
            value["Ref"]
        ]
    separator, parts = value["Fn::Join"]
    return separator.join(resolve_join(p) for p in parts)


def log_group_arn(rft_stage: RftStage, name: str) -> str:
    return f"arn:aws:logs:{rft_stage.region}:111122223333:log-group:{name}"


@pytest.mark.parametrize("name", ["staging", "prod"])
def test_every_log_group_is_encrypted_with_the_data_key(name):
    rft_stage = configured_stage(name)
    key_id = data_key_logical_id(rft_stage)
    seen = 0
    for stack in stacks_of(rft_stage):
        for logical_id, group in template(stack).find_resources("AWS::Logs::LogGroup").items():
            seen += 1
            key = group["Properties"].get("KmsKeyId")
            assert key is not None, f"{stack.stack_name}/{logical_id} is not encrypted with a KMS key"
            if stack is rft_stage.data:
                assert key == {"Fn::GetAtt": [key_id, "Arn"]}
            else:  # a cross-stack reference to the data stack's key
                assert key_id in key["Fn::ImportValue"], f"{stack.stack_name}/{logical_id}: {key}"
    assert seen >= 11, "graders, workflow steps, workflow, gateway and its access logs"


@pytest.mark.parametrize("name", ["staging", "prod"])
def test_the_key_policy_names_exactly_the_stacks_that_create_log_groups(name):
    rft_stage = configured_stage(name)
    with_logs = {s.stack_name for s in stacks_of(rft_stage) if creates_log_groups(s)}
    assert with_logs == {f"{name}-Rewards", f"{name}-Training", f"{name}-Serving"}
    expected = {log_group_arn(rft_stage, GENERATED_NAMES.format(stack=stack)) for stack in with_logs}
    assert set(logs_patterns(rft_stage)) == expected


@pytest.mark.parametrize(
    ("log_group", "allowed"),
    [
        ("staging-Rewards-CodeTestsBundledLogs0B201595-Ab12Cd34Ef56", True),
        ("staging-Training-WorkflowLogs8B0907C7-Ab12Cd34Ef56", True),
        ("staging-Serving-AccessLogs8B620ECA-Ab12Cd34Ef56", True),
        ("staging-Operations-Anything-Ab12Cd34Ef56", False),  # creates no log group
        ("staging-Data-Anything-Ab12Cd34Ef56", False),
        ("prod-Rewards-CodeTestsBundledLogs0B201595-Ab12Cd34Ef56", False),  # another environment
        ("/aws/lambda/staging-Rewards-CodeTests", False),
        ("someone-elses-log-group", False),
    ],
)
def test_cloudwatch_logs_may_use_the_key_only_for_this_environments_log_groups(log_group, allowed):
    rft_stage = configured_stage("staging")
    arn = log_group_arn(rft_stage, log_group)
    # IAM's ArnLike matches each ARN segment with * and ? wildcards, as fnmatch does here.
    assert any(fnmatch.fnmatchcase(arn, pattern) for pattern in logs_patterns(rft_stage)) is allowed


def test_a_stack_that_creates_a_log_group_is_added_to_the_key_policy():
    rft_stage = build_stage("staging")
    extra = cdk.Stack(rft_stage, "Extra")
    encrypted_log_group(extra, "Logs", retention=7, retain=False, key=rft_stage.data.data_key)
    assert creates_log_groups(extra)
    rft_stage.data.allow_log_groups_of([extra])
    patterns = [
        resolve_join(p)
        for s in key_policy_statements(rft_stage)
        if s.get("Principal", {}).get("Service") == "logs.us-west-2.amazonaws.com"
        for p in s["Condition"]["ArnLike"][LOGS_CONTEXT_KEY]
    ]
    assert log_group_arn(rft_stage, "staging-Extra-*") in patterns
