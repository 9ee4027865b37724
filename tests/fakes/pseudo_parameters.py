"""The CloudFormation pseudo parameters as the offline template readers resolve them (one account,
one partition), shared by the workflow harness and the IAM contract check."""

from __future__ import annotations

ACCOUNT = "123456789012"
PARTITION = "aws"


def pseudo_parameters(stack: str, region: str) -> dict[str, str]:
    """``Ref`` values of the pseudo parameters in ``stack`` deployed to ``region``."""
    return {
        "AWS::Partition": PARTITION,
        "AWS::Region": region,
        "AWS::AccountId": ACCOUNT,
        "AWS::URLSuffix": "amazonaws.com",
        "AWS::StackName": stack,
    }
