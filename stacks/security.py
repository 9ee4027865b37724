"""The security gate: cdk-nag's AWS Solutions pack as a synth-time validation.

Synth fails on every finding that is not acknowledged. Acknowledge one finding at a time, on
the narrowest construct, with a reason specific to that resource (`acknowledge` below).
"""

from __future__ import annotations

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks
from constructs import IConstruct


def add_security_checks(stage: cdk.Stage) -> None:
    """Runs the checks on every stack of `stage` (plugins added to the app do not reach stages)."""
    cdk.Validations.of(stage).add_plugins(AwsSolutionsChecks(stage))


def acknowledge(construct: IConstruct, finding: str, reason: str) -> None:
    """Acknowledges one exact cdk-nag finding (e.g. `AwsSolutions-IAM5[Resource::*]`) on `construct`."""
    cdk.Validations.of(construct).acknowledge(cdk.Acknowledgment(id=finding, reason=reason))
