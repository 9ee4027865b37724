"""The security gates' acknowledgments, in one place, and the IAM helpers every stack uses to name
resources in policies and acknowledge findings about them.

cdk-nag's AWS Solutions pack runs as a synth-time validation; checkov runs over the synthesized
templates in `make test`. Each fails on every finding that is neither fixed nor acknowledged here:
cdk-nag's with `acknowledge`, checkov's with `skip_checkov` (which writes the skip into the
resource's template `Metadata`, where checkov reads it and a reviewer sees it).

Synth fails on every cdk-nag finding that is not acknowledged. Acknowledge one finding at a time, on
the narrowest construct, with a reason specific to that resource (`acknowledge` below). A finding's
id spells the resource as cdk-nag prints it (`<AWS::Partition>`, `<Logical.Arn>`, an export
name): `nag_form` and `referenced` give that spelling, so an acknowledgment names exactly the
resource the policy grants.
"""

from __future__ import annotations

import re

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks
from constructs import IConstruct

CHECKOV_ID = re.compile(r"^CKV2?_AWS_\d+$")


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


def from_this_account(account: str, source_arn: str | None = None) -> dict[str, dict[str, str]]:
    """The conditions that keep an AWS service from being a confused deputy: it acts for this
    account only and, with `source_arn`, only for those of its resources."""
    conditions = {"StringEquals": {"aws:SourceAccount": account}}
    if source_arn is not None:
        conditions["ArnLike"] = {"aws:SourceArn": source_arn}
    return conditions


def sid_word(name: str) -> str:
    """A hyphenated name as a policy statement id (alphanumeric only) spells it (`prod-eu` -> `ProdEu`)."""
    return "".join(part.capitalize() for part in name.split("-"))


def service_sid(service_principal: str) -> str:
    """A service's name as a policy statement id spells it (`cloudwatch.amazonaws.com` -> `Cloudwatch`)."""
    return sid_word(service_principal.split(".")[0])


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


def referenced(scope: IConstruct, producer: IConstruct, value: str) -> tuple[str, str]:
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


# --- checkov -------------------------------------------------------------------------------------


def cloudformation_resource(construct: IConstruct) -> cdk.CfnResource:
    """The CloudFormation resource of `construct`: itself, or the default child of an L2 construct."""
    resource = construct if isinstance(construct, cdk.CfnResource) else construct.node.default_child
    if not isinstance(resource, cdk.CfnResource):
        raise TypeError(f"{construct.node.path}: no single CloudFormation resource")
    return resource


def skip_checkov(construct: IConstruct, check: str, reason: str) -> None:
    """Skips one checkov check (e.g. `CKV_AWS_117`) on the CloudFormation resource of `construct`.

    `construct` is the resource itself or an L2 construct whose default child it is. Skipping the
    same check again replaces its reason.
    """
    if not CHECKOV_ID.match(check):
        raise ValueError(f"not a checkov AWS check id: {check!r}")
    if not reason.strip():
        raise ValueError(f"skipping {check} needs a reason")
    resource = cloudformation_resource(construct)
    metadata = resource.get_metadata("checkov") or {}
    skips = [skip for skip in metadata.get("skip", []) if skip["id"] != check]
    resource.add_metadata("checkov", {"skip": [*skips, {"id": check, "comment": reason}]})


# --- checkov's Lambda checks, with the reasons this project accepts --------------------------------
# Each helper takes what makes the reason specific to the function: who invokes it, what it calls.

CHECK_CONCURRENCY_LIMIT = "CKV_AWS_115"
CHECK_DEAD_LETTER_QUEUE = "CKV_AWS_116"
CHECK_IN_A_VPC = "CKV_AWS_117"
CHECK_ENVIRONMENT_KMS = "CKV_AWS_173"


def invoked_synchronously(function: IConstruct, caller: str) -> None:
    """A dead-letter queue receives only asynchronous invocations; `caller` gets the error itself."""
    skip_checkov(
        function,
        CHECK_DEAD_LETTER_QUEUE,
        f"Invoked synchronously by {caller}, which receives its errors and retries or fails on them; "
        "Lambda sends only asynchronous invocations to a dead-letter queue",
    )


def calls_services_outside_a_vpc(function: IConstruct, calls: str) -> None:
    """The function needs AWS (or public) endpoints; a VPC would need a NAT or interface endpoints."""
    skip_checkov(
        function,
        CHECK_IN_A_VPC,
        f"Calls {calls}; inside a VPC each would need a NAT gateway or an interface endpoint, and the "
        "function runs no untrusted code, so its role's scope is what limits it",
    )


def shares_the_account_pool(function: IConstruct, why: str) -> None:
    """No reserved concurrency: reserving takes capacity from every other function of the account."""
    skip_checkov(function, CHECK_CONCURRENCY_LIMIT, why)


def environment_holds_no_secret(function: IConstruct, variables: list[str]) -> None:
    """Lambda encrypts environment variables at rest with its service key; these hold no secret."""
    skip_checkov(
        function,
        CHECK_ENVIRONMENT_KMS,
        f"The environment holds only {', '.join(sorted(variables))}: names, ARNs and settings, no "
        "secret (tests/infra/test_checkov_skips.py); Lambda encrypts it at rest with its own key",
    )


# --- checkov's findings on what CDK adds for buckets ---------------------------------------------


def logs_the_others(access_logs_bucket: IConstruct, logged: str) -> None:
    """The server-access-log bucket other buckets log to does not log itself; ``logged`` says which
    ("the data buckets log to")."""
    skip_checkov(
        access_logs_bucket,
        "CKV_AWS_18",
        f"This is the server-access-log bucket {logged}; logging it would log into "
        "itself (one record per record) or need yet another bucket",
    )


def auto_delete_handler(stack: cdk.Stack) -> None:
    """CDK's handler that empties the stack's auto-deleted buckets when the stack is deleted."""
    provider = stack.node.try_find_child("Custom::S3AutoDeleteObjectsCustomResourceProvider")
    if provider is None:
        return
    handler = provider.node.find_child("Handler")
    for check, reason in (
        (
            CHECK_DEAD_LETTER_QUEUE,
            "CloudFormation invokes this custom-resource handler while deleting the stack and waits "
            "for its answer: a failure fails the deletion on the stack, it is not lost",
        ),
        (CHECK_IN_A_VPC, "Calls S3 (list and delete object versions of this stack's buckets) only"),
        (CHECK_CONCURRENCY_LIMIT, "Runs once per bucket when the stack is deleted"),
    ):
        skip_checkov(handler, check, reason)
