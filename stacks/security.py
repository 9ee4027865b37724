"""The security gate: cdk-nag's AWS Solutions pack as a synth-time validation, and the IAM helpers
every stack uses to name resources in policies and acknowledge findings about them.

Synth fails on every finding that is not acknowledged. Acknowledge one finding at a time, on
the narrowest construct, with a reason specific to that resource (`acknowledge` below). A finding's
id spells the resource as cdk-nag prints it (`<AWS::Partition>`, `<Logical.Arn>`, an export
name): `nag_form` and `referenced` give that spelling, so an acknowledgment names exactly the
resource the policy grants.
"""

from __future__ import annotations

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks
from constructs import Construct, IConstruct


def add_security_checks(stage: cdk.Stage) -> None:
    """Runs the checks on every stack of `stage` (plugins added to the app do not reach stages)."""
    cdk.Validations.of(stage).add_plugins(AwsSolutionsChecks(stage))


def acknowledge(construct: IConstruct, finding: str, reason: str) -> None:
    """Acknowledges one exact cdk-nag finding (e.g. `AwsSolutions-IAM5[Resource::*]`) on `construct`."""
    cdk.Validations.of(construct).acknowledge(cdk.Acknowledgment(id=finding, reason=reason))


def acknowledge_wildcard(construct: IConstruct, resource: str, reason: str) -> None:
    """Acknowledges AwsSolutions-IAM5 (a wildcard) for exactly `resource` on `construct`."""
    finding = f"AwsSolutions::AwsSolutions-IAM5[Resource::{nag_form(construct, resource)}]"
    acknowledge(construct, finding, reason)


# --- ARNs and the form cdk-nag prints them in ---------------------------------------------------


def arn(scope: IConstruct, service: str, resource: str, *, account: bool = True, region: bool = True) -> str:
    """``arn:<partition>:<service>:<region>:<account>:<resource>`` of `scope`'s stack; `account` or
    `region` false leaves that part empty (foundation models have no account; IAM no region)."""
    return cdk.Stack.of(scope).format_arn(
        service=service,
        resource=resource,
        arn_format=cdk.ArnFormat.NO_RESOURCE_NAME,
        account=None if account else "",
        region=None if region else "",
    )


def nag_form(scope: IConstruct, value: str) -> str:
    """`value` with the stack's unresolved pseudo parameters as cdk-nag writes them in finding ids."""
    stack = cdk.Stack.of(scope)
    for token, name in (
        (stack.partition, "<AWS::Partition>"),
        (stack.region, "<AWS::Region>"),
        (stack.account, "<AWS::AccountId>"),
    ):
        if cdk.Token.is_unresolved(token):
            value = value.replace(token, name)
    return value


def referenced(scope: Construct, producer: Construct, value: str) -> tuple[str, str]:
    """`value` (an attribute of `producer`, e.g. a bucket ARN) as `scope` refers to it, and the form
    cdk-nag prints that reference in: the export name when `producer` is in another stack."""
    consumer, owner = cdk.Stack.of(scope), cdk.Stack.of(producer)
    if owner is consumer:
        resolved = consumer.resolve(value)
        if isinstance(resolved, dict) and "Fn::GetAtt" in resolved:
            logical_id, attribute = resolved["Fn::GetAtt"]
            return value, f"<{logical_id}.{attribute}>"
        if isinstance(resolved, dict) and "Ref" in resolved:
            return value, f"<{resolved['Ref']}>"
        return value, str(resolved)
    imported = owner.export_value(value)
    return imported, str(consumer.resolve(imported)["Fn::ImportValue"])
