"""The run's plan: what the workflow's validate step turns a valid request into.

``plan_job`` takes a valid ``rft.jobs.JobRequest`` plus the environment's settings and returns plain
JSON the state machine uses as is: the provider to branch on, the names and idempotency tokens, the
Bedrock calls' parameters in the PascalCase that Step Functions' AWS SDK integrations take, and the
Mantle job's parameters. ``read_dataset`` is the one rule for reading a request's dataset (the
workflow's validate step streams each dataset through it before planning).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from rft import PROJECT, assumptions, catalog, datasets
from rft.errors import Problem, RftError, ValidationError
from rft.hyperparameters import Hyperparameters
from rft.jobs import JobRequest
from rft.names import ARTIFACTS_PREFIX
from rft.workflow_state import MantlePlan, Plan


@dataclass(frozen=True)
class WorkflowSettings:
    """What the workflow's Lambda gets from its environment (read by the handler, not here)."""

    environment: str
    region: str
    datasets_bucket: str
    artifacts_bucket: str
    role_arn: str  # the Bedrock service role passed as roleArn
    graders: Mapping[str, str]  # reward name → the grader's `live` alias ARN
    artifacts_prefix: str = ARTIFACTS_PREFIX
    custom_model_kms_key_id: str | None = None


def validate_request(data: object, settings: WorkflowSettings) -> JobRequest:
    """``JobRequest.from_dict`` with every environment check on."""
    return JobRequest.from_dict(
        data,
        region=settings.region,
        datasets_bucket=settings.datasets_bucket,
        rewards=settings.graders.keys(),
    )


# A validation set only has to be usable: the 100-prompt minimum is for training data.
VALIDATION_DATA_LIMITS = datasets.DatasetLimits(min_prompts=1)


def read_dataset(
    s3_client: Any, field_name: str, uri: str, limits: datasets.DatasetLimits
) -> datasets.DatasetReport:
    """Stream one dataset of the request through the rules. A file that cannot be read is a
    ValidationError naming the request's field; throttling and 5xx errors propagate (the step's
    Retry handles them)."""
    from botocore.exceptions import ClientError

    try:
        return datasets.validate_s3_object(s3_client, uri, limits=limits)
    except ClientError as exc:
        message = _unreadable(uri, str(exc.response.get("Error", {}).get("Code", "")))
        if message is None:
            raise
        raise ValidationError("The job request", [Problem(None, field_name, message)]) from exc


def _unreadable(uri: str, code: str) -> str | None:
    """Why the workflow cannot read ``uri``, by S3's error code; None for an error worth retrying."""
    if code in ("NoSuchKey", "404", "NotFound"):
        return f"{uri} does not exist"
    if code in ("AccessDenied", "403", "KMS.AccessDeniedException"):
        return f"{uri} cannot be read by the workflow ({code})"
    if code == "InvalidObjectState":
        return (
            f"{uri} is in an archive storage class (Glacier Flexible Retrieval or Deep Archive): "
            "restore it or copy it to S3 Standard first"
        )
    return None


def request_token(request: JobRequest, environment: str, purpose: str = "job") -> str:
    """A deterministic idempotency token: the same request retried gets the same token.

    Satisfies Bedrock's ClientRequestToken pattern `[a-zA-Z0-9]([-a-zA-Z0-9]{0,254}[a-zA-Z0-9])?`.
    """
    canonical = json.dumps(
        {"environment": environment, "purpose": purpose, "request": request.to_dict()},
        sort_keys=True,
        separators=(",", ":"),
    )
    digest = hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:24]
    return f"{request.name}-{purpose}-{digest}"


def run_tags(request: JobRequest, settings: WorkflowSettings) -> dict[str, str]:
    """The user's tags, then the ones every resource of the run carries (they win on a clash)."""
    return {
        **request.tags,
        **resource_tags(settings.environment, request.name, request.reward, request.base_model),
    }


def resource_tags(environment: str, name: str, reward: str, base_model: str) -> dict[str, str]:
    """The tags of every resource made for model ``name``: its job, model and deployment, and a
    copy of it in another environment (rft.model_copy)."""
    return {
        "project": PROJECT,  # the cost-allocation tag the environment's budget counts
        "environment": environment,
        "rft:environment": environment,
        "rft:name": name,
        "rft:reward": reward,
        "rft:base-model": base_model,
    }


def plan_job(request: JobRequest, settings: WorkflowSettings) -> Plan:
    """Everything the state machine needs for this run, as JSON-serializable values."""
    model = catalog.get_model(request.base_model, settings.region)
    grader_arn = settings.graders.get(request.reward)
    if grader_arn is None:
        raise RftError(f"No grader named {request.reward!r} is deployed in {settings.environment}.")
    prefix = settings.artifacts_prefix.strip("/")
    run_root = f"s3://{settings.artifacts_bucket}/{prefix + '/' if prefix else ''}{request.name}"
    tags = run_tags(request, settings)
    token = request_token(request, settings.environment)
    hyperparameters = (
        request.hyperparameters.with_defaults(model.hyperparameters)
        if model.provider == "bedrock"
        else request.hyperparameters
    )
    plan: Plan = {
        "name": request.name,
        "environment": settings.environment,
        "region": settings.region,
        "provider": model.provider,
        "base_model": model.id,
        "reward": request.reward,
        "grader_arn": grader_arn,
        "training_data": request.training_data,
        "validation_data": request.validation_data,
        "serve": request.serve,
        "validate_only": request.validate_only,
        "deploy": request.serve and model.needs_deployment,
        "execution_name": request.name,
        "job_name": request.name,
        "custom_model_name": request.name,
        "deployment_name": request.name,
        "client_request_token": token,
        "output_s3_uri": f"{run_root}/output/",
        "metrics_s3_uri": f"{run_root}/metrics.jsonl",
        "hyperparameters": hyperparameters.to_dict(),
        "watch": request.watch.to_dict(),
        "tags": tags,
        "bedrock": None,
        "mantle": None,
        "recipe": None,
    }
    if model.provider == "bedrock":
        plan["bedrock"] = {
            "create_job": to_sfn_case(_bedrock_create_job(request, settings, plan, hyperparameters)),
            "create_deployment": to_sfn_case(
                deployment_parameters(
                    request.name,
                    base_model=model.id,
                    reward=request.reward,
                    tags=tags,
                    token=request_token(request, settings.environment, "deploy"),
                )
            ),
        }
    else:
        plan["mantle"] = _mantle_job(request, settings, model, plan, hyperparameters, run_root)
    return plan


def _mantle_job(
    request: JobRequest,
    settings: WorkflowSettings,
    model: catalog.BaseModel,
    plan: Mapping[str, Any],
    hyperparameters: Hyperparameters,
    run_root: str,
) -> MantlePlan:
    """The Mantle start step's input. Optional job fields appear only while rft.assumptions says
    Mantle accepts them; the start record (rft.mantle_start.start_job) is what makes a retry safe."""
    token = plan["client_request_token"]
    job: MantlePlan = {
        "base_url": catalog.mantle_base_url(settings.region),
        "model": model.id,
        "training_data": request.training_data,
        "validation_data": request.validation_data,
        "grader_arn": plan["grader_arn"],
        "hyperparameters": hyperparameters.to_mantle(),
        "request_token": token,
        "start_record": f"{run_root}/mantle-start-{token}.json",
    }
    if assumptions.MANTLE_JOB_SUFFIX_SUPPORTED:
        job["suffix"] = request.name[: assumptions.MANTLE_SUFFIX_MAX_CHARS]
    if assumptions.MANTLE_JOB_METADATA_SUPPORTED:
        job["metadata"] = {
            "rft_name": request.name,
            "rft_environment": settings.environment,
            "rft_request_token": token,
        }
    return job


def _bedrock_create_job(
    request: JobRequest, settings: WorkflowSettings, plan: Mapping[str, Any], hyperparameters: Hyperparameters
) -> dict[str, Any]:
    """CreateModelCustomizationJob parameters under botocore's (camelCase) member names."""
    params: dict[str, Any] = {
        "jobName": plan["job_name"],
        "customModelName": plan["custom_model_name"],
        "roleArn": settings.role_arn,
        "clientRequestToken": plan["client_request_token"],
        "baseModelIdentifier": request.base_model,
        "customizationType": "REINFORCEMENT_FINE_TUNING",
        "trainingDataConfig": {"s3Uri": request.training_data},
        "outputDataConfig": {"s3Uri": plan["output_s3_uri"]},
        "customizationConfig": {
            "rftConfig": {
                "graderConfig": {"lambdaGrader": {"lambdaArn": plan["grader_arn"]}},
                "hyperParameters": hyperparameters.to_dict(),
            }
        },
        "jobTags": tag_list(plan["tags"]),
        "customModelTags": tag_list(plan["tags"]),
    }
    if request.validation_data:
        params["validationDataConfig"] = {"validators": [{"s3Uri": request.validation_data}]}
    if settings.custom_model_kms_key_id:
        params["customModelKmsKeyId"] = settings.custom_model_kms_key_id
    return params


def deployment_parameters(
    name: str, *, base_model: str, reward: str, tags: Mapping[str, str], token: str
) -> dict[str, Any]:
    """CreateCustomModelDeployment parameters (botocore names, without the model's ARN) for the model
    of run ``name``: the workflow's Serve step and a cross-account copy (rft.model_copy) send these."""
    return {
        "modelDeploymentName": name,
        "description": f"RFT model {name}: {base_model} trained with {reward}",
        "tags": tag_list(tags),
        "clientRequestToken": token,
    }


def tag_list(tags: Mapping[str, str]) -> list[dict[str, str]]:
    """Tags as Bedrock's create calls take them, in a stable order."""
    return [{"key": key, "value": value} for key, value in sorted(tags.items())]


def to_sfn_case(value: Any) -> Any:
    """botocore member names (camelCase) → Step Functions AWS SDK integration names (PascalCase)."""
    return _recase_keys(value, str.upper)


def to_boto3_case(value: Any) -> Any:
    """The inverse of ``to_sfn_case``: plan parameters → keyword arguments for a boto3 call."""
    return _recase_keys(value, str.lower)


def _recase_keys(value: Any, first_letter: Callable[[str], str]) -> Any:
    """``value`` with ``first_letter`` applied to the first letter of every mapping key, at any depth."""
    if isinstance(value, Mapping):
        return {
            first_letter(key[:1]) + key[1:]: _recase_keys(item, first_letter) for key, item in value.items()
        }
    if isinstance(value, list):
        return [_recase_keys(item, first_letter) for item in value]
    return value
