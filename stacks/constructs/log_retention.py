"""Log retention in days (as configured) to CDK's RetentionDays."""

from aws_cdk import aws_logs as logs

from stacks.config import LOG_RETENTION_DAYS

_FINITE = [member for member in logs.RetentionDays if member is not logs.RetentionDays.INFINITE]
assert len(_FINITE) == len(LOG_RETENTION_DAYS), "RetentionDays changed: update LOG_RETENTION_DAYS"
_BY_DAYS = dict(zip(LOG_RETENTION_DAYS, _FINITE, strict=True))


def retention_days(days: int) -> logs.RetentionDays:
    return _BY_DAYS[days]
