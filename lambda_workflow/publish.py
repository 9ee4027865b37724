"""Step 5, `Publish model record`: what was trained and where to call it, in SSM Parameter Store.

Event (built by the state machine): ``{"state": <the workflow state>, "execution_arn", "started_at"}``.
Returns ``{"record": <ModelRecord as stored>, "parameter": "/rft/<env>/models/<name>"}``; the state
machine then sends the record as the "RFT Model Ready" event and mails a summary.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from lambda_workflow import common
from rft import records
from rft.errors import RftError
from rft.registry import ModelRegistry
from rft.workflow_state import BedrockJob, Plan, StateDocument


def handler(event: dict[str, Any], context: object = None) -> dict[str, Any]:
    state: StateDocument = event["state"]
    plan = state["plan"]
    record = build_record(state, execution_arn=event.get("execution_arn"), started_at=event.get("started_at"))
    stored = ModelRegistry(common.client("ssm"), plan["environment"]).put_model(record)
    parameter = records.model_parameter_name(plan["environment"], plan["name"])
    common.logger.info(
        "model record published",
        extra={"run": plan["name"], "parameter": parameter, "model": stored.model_id},
    )
    return {"record": stored.to_dict(), "parameter": parameter}


def build_record(
    state: StateDocument, *, execution_arn: str | None, started_at: str | None
) -> records.ModelRecord:
    """The model record of a run whose job succeeded (and, on the Bedrock plane, whose model is
    deployed when the plan asked for it)."""
    plan = state["plan"]
    job_id = str(state["training"]["job_id"])
    started = common.parse_time(started_at)
    if plan["provider"] == "bedrock":
        job: BedrockJob = state.get("bedrock_job") or {}
        custom_model_arn = job.get("OutputModelArn")
        if not custom_model_arn:
            raise RftError(f"Bedrock job {job_id} completed without an output model ARN.")
        deployment = state.get("deployment")
        deployment_arn = deployment.get("arn") if deployment else None
        return records.record_from_run(
            plan,
            job_id=job_id,
            model_id=deployment_arn or custom_model_arn,
            custom_model_arn=custom_model_arn,
            deployment_arn=deployment_arn,
            metrics=bedrock_metrics(job),
            execution_arn=execution_arn,
            started_at=common.iso(started) if started else None,
            completed_at=_iso_or_none(job.get("EndTime")),
        )
    mantle_job: Mapping[str, Any] = state.get("mantle_job") or {}
    return _mantle_record(plan, job_id, mantle_job, execution_arn=execution_arn, started=started)


def _mantle_record(
    plan: Plan, job_id: str, job: Mapping[str, Any], *, execution_arn: str | None, started: datetime | None
) -> records.ModelRecord:
    model_id = job.get("fine_tuned_model")
    if not model_id:
        raise RftError(f"Mantle job {job_id} succeeded without a fine-tuned model id.")
    metrics = dict(job.get("metrics") or {})
    if job.get("metrics_uri"):
        metrics["metrics_uri"] = job["metrics_uri"]
    return records.record_from_run(
        plan,
        job_id=job_id,
        model_id=str(model_id),
        metrics=metrics,
        execution_arn=execution_arn,
        started_at=common.iso(started) if started else None,
        completed_at=_iso_or_none(job.get("finished_at")),
    )


def bedrock_metrics(job: BedrockJob) -> dict[str, Any]:
    """GetModelCustomizationJob's training metrics, under the record's snake_case names."""
    metrics = job.get("TrainingMetrics") or {}
    summary: dict[str, Any] = {}
    if isinstance(metrics, Mapping) and isinstance(metrics.get("TrainingLoss"), int | float):
        summary["training_loss"] = metrics["TrainingLoss"]
    return summary


def _iso_or_none(value: object) -> str | None:
    moment = common.parse_time(value)
    return common.iso(moment) if moment else None
