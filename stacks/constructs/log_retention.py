"""Every log group the stacks create: retention as configured, encrypted with the environment key.

The logs hold prompts, model outputs and job requests, so no log group is left on CloudWatch
Logs' default encryption: `encrypted_log_group` is the one way the stacks make one, and the data
stack's key policy lets CloudWatch Logs use the key for exactly these log groups
(`DataStack.allow_log_groups_of`).
"""

import aws_cdk as cdk
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from constructs import Construct

from stacks.config import LOG_RETENTION_DAYS

_FINITE = [member for member in logs.RetentionDays if member is not logs.RetentionDays.INFINITE]
assert len(_FINITE) == len(LOG_RETENTION_DAYS), "RetentionDays changed: update LOG_RETENTION_DAYS"
_BY_DAYS = dict(zip(LOG_RETENTION_DAYS, _FINITE, strict=True))


def retention_days(days: int) -> logs.RetentionDays:
    return _BY_DAYS[days]


def encrypted_log_group(
    scope: Construct, construct_id: str, *, retention: int, retain: bool, key: kms.IKey
) -> logs.LogGroup:
    """A log group with a generated name (so the key policy can match it by its stack's name)."""
    return logs.LogGroup(
        scope,
        construct_id,
        retention=retention_days(retention),
        removal_policy=cdk.RemovalPolicy.RETAIN if retain else cdk.RemovalPolicy.DESTROY,
        encryption_key=key,
    )
