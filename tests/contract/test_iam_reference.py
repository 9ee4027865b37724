"""Every IAM action in every synthesized template exists in the IAM service reference (cfn-lint's
copy), and every resource it is granted on is a resource of that action's types, for cdk.json's
environments and a Nova (Bedrock-plane) environment in us-east-1."""

from __future__ import annotations

from functools import cache

import pytest

from tests.contract.iam_reference import Templates, policy_statements, statement_problems
from tests.infra.helpers import build_stage, template

ENVIRONMENTS = {
    "staging": {},
    "prod": {},
    "nova-us-east-1": {
        "region": "us-east-1",
        "allowed_base_models": ["amazon.nova-2-lite-v1:0:256k"],
        "rewards": {"judge_model_ids": []},
    },
}


@cache
def stage_templates(environment: str) -> Templates:
    base = "prod" if environment == "prod" else "staging"
    stage = build_stage(base, **ENVIRONMENTS[environment])
    stacks = {child.stack_name: child for child in stage.node.children if hasattr(child, "stack_name")}
    return Templates({name: template(stack).to_json() for name, stack in stacks.items()}, stage.region)


def _as_list(value):
    return value if isinstance(value, list) else [value]


@pytest.mark.parametrize("environment", list(ENVIRONMENTS))
def test_every_action_exists_and_is_granted_on_resources_of_its_types(environment):
    templates = stage_templates(environment)
    problems = []
    checked = 0
    for stack, tpl in templates.templates.items():
        for where, statement in policy_statements(tpl):
            if "Action" not in statement:
                continue  # NotAction statements (none today) would need their own rule
            actions = _as_list(statement["Action"])
            resources = [str(r) for r in _as_list(templates.render(stack, statement.get("Resource", "*")))]
            problems += [f"{stack}/{where}: {p}" for p in statement_problems(actions, resources)]
            checked += 1
    assert checked > 20
    assert not problems, "\n".join(problems)


def test_the_checker_catches_a_wrong_action_and_a_wrong_resource():
    assert statement_problems(["bedrock:CreateModelCustomisationJob"], ["*"])
    # CreateModelCustomizationJob is authorized on custom models and foundation models only.
    wrong = statement_problems(
        ["bedrock:CreateModelCustomizationJob"],
        ["arn:aws:bedrock:us-west-2:123456789012:model-customization-job/*"],
    )
    assert any("none of which is a custom-model or foundation-model" in p for p in wrong)
    # Object reads granted on a key (the reference's S3 formats do not tell a bucket from an object).
    assert statement_problems(["s3:GetObject"], ["arn:aws:kms:us-east-1:123456789012:key/abc"])
    assert not statement_problems(["s3:GetObject"], ["arn:aws:s3:::bucket/jobs/*"])
    # The Mantle ids are not Bedrock foundation models in any region's ARN either way, but a
    # foundation-model grant without the empty account field is not one.
    assert statement_problems(
        ["bedrock:CreateModelCustomizationJob"], ["arn:aws:bedrock:us-east-1:123456789012:foundation-model/x"]
    )
    assert statement_problems(["xray:PutTraceSegments"], ["arn:aws:xray:us-east-1:1:group/x"])
