"""The IAM helpers every stack uses: ARNs of the stack's own partition/region/account, and the
spelling cdk-nag gives them in a finding id."""

from __future__ import annotations

import aws_cdk as cdk

from stacks.security import arn, nag_form


def _flat(stack: cdk.Stack, value: str) -> str:
    resolved = stack.resolve(value)
    if isinstance(resolved, str):
        return resolved
    parts = resolved["Fn::Join"][1]
    return "".join(p if isinstance(p, str) else "<" + p["Ref"] + ">" for p in parts)


def test_an_arn_is_the_stacks_own_and_may_leave_account_or_region_empty() -> None:
    stack = cdk.Stack(cdk.App(), "S")
    job = arn(stack, "bedrock", "model-customization-job/*")
    assert (
        _flat(stack, job)
        == "arn:<AWS::Partition>:bedrock:<AWS::Region>:<AWS::AccountId>:model-customization-job/*"
    )
    model = arn(stack, "bedrock", "foundation-model/amazon.nova-lite-v1:0", account=False)
    assert (
        _flat(stack, model)
        == "arn:<AWS::Partition>:bedrock:<AWS::Region>::foundation-model/amazon.nova-lite-v1:0"
    )
    assert (
        nag_form(stack, job)
        == "arn:<AWS::Partition>:bedrock:<AWS::Region>:<AWS::AccountId>:model-customization-job/*"
    )


def test_a_stack_with_a_fixed_environment_gets_literal_parts() -> None:
    stack = cdk.Stack(cdk.App(), "S", env=cdk.Environment(account="123456789012", region="eu-west-1"))
    executions = arn(stack, "states", "execution:wf:*")
    assert nag_form(stack, executions).endswith(":states:eu-west-1:123456789012:execution:wf:*")
