"""What every workflow step shares: its settings (from the function's environment), a logger and
AWS clients. The steps are thin: the rules live in `rft/`."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from datetime import UTC, datetime
from functools import cache
from typing import Any

from aws_lambda_powertools import Logger

from rft import aws
from rft.job_plan import WorkflowSettings
from rft.names import ARTIFACTS_PREFIX

logger = Logger(service=os.environ.get("POWERTOOLS_SERVICE_NAME", "rft-workflow"))


def region() -> str:
    value = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    if not value:
        raise RuntimeError("AWS_REGION is not set (the Lambda runtime always sets it)")
    return value


def environment_name() -> str:
    return _required("ENVIRONMENT")


def workflow_settings(env: Mapping[str, str] | None = None) -> WorkflowSettings:
    """The validate step's view of the environment, from the variables the training stack sets."""
    env = os.environ if env is None else env
    return WorkflowSettings(
        environment=_required("ENVIRONMENT", env),
        region=region(),
        datasets_bucket=_required("DATASETS_BUCKET", env),
        artifacts_bucket=_required("ARTIFACTS_BUCKET", env),
        role_arn=_required("BEDROCK_ROLE_ARN", env),
        graders=json.loads(env.get("GRADERS") or "{}"),
        artifacts_prefix=env.get("ARTIFACTS_PREFIX", ARTIFACTS_PREFIX),
        custom_model_kms_key_id=env.get("DATA_KEY_ARN") or None,
    )


def allowed_base_models(env: Mapping[str, str] | None = None) -> tuple[str, ...]:
    env = os.environ if env is None else env
    return tuple(json.loads(env.get("ALLOWED_BASE_MODELS") or "[]"))


def client(service: str) -> Any:
    """One boto3 client per service and warm container, with the project's retry policy."""
    return _client(service, region())


@cache
def _client(service: str, region_name: str) -> Any:
    return aws.client(service, region=region_name)


def parse_time(value: object) -> datetime | None:
    """An ISO 8601 string (Step Functions writes `...Z` with milliseconds), epoch seconds, or None."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, UTC)
    text = str(value).strip().replace("Z", "+00:00")
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def iso(moment: datetime) -> str:
    """The timestamp form Step Functions compares (`TimestampGreaterThan...`): seconds, UTC, `Z`."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _required(name: str, env: Mapping[str, str] | None = None) -> str:
    env = os.environ if env is None else env
    value = env.get(name)
    if not value:
        raise RuntimeError(f"environment variable {name} is not set (the training stack sets it)")
    return value
