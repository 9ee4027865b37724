"""Stop the job of a run that was aborted or timed out, so nothing keeps spending.

Triggered by EventBridge ("Step Functions Execution Status Change", status ABORTED or TIMED_OUT, this
environment's state machine). The run's plan and job id are read back from the execution's history
(the output of the validate and start steps). A Bedrock job is stopped by its ARN, or by its name when
the run was aborted while the job was being created; a Mantle job is cancelled by id, or found through
the start record the start step keeps in the artifacts bucket. A job that already ended is left as it is. The
environment's topic is told what happened either way.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from botocore.exceptions import ClientError

from lambda_workflow import common
from lambda_workflow.mantle import mantle_client
from rft import mantle as rft_mantle
from rft import mantle_start
from rft.status import job_state
from rft.workflow_state import ExecutionHistory, Plan

# StopModelCustomizationJob's errors (botocore's bedrock model) for a job that can no longer be
# stopped because it ended between the status check and the stop: ConflictException is the one
# documented for that; ValidationException is tolerated too, as GetModelCustomizationJob has just
# accepted the same identifier, so it can only be about the job's state.
JOB_ALREADY_ENDED_CODES = frozenset({"ConflictException", "ValidationException"})


def handler(event: dict[str, Any], context: object = None) -> dict[str, Any]:
    detail = event.get("detail") or {}
    execution_arn = detail["executionArn"]
    status = str(detail.get("status", "ABORTED"))
    plan, job_id = read_run(common.client("stepfunctions"), execution_arn)
    if plan is None:
        outcome = {"action": "none", "reason": "the run stopped before its request was validated"}
    elif plan.get("provider") == "bedrock":
        outcome = stop_bedrock_job(common.client("bedrock"), plan, job_id)
    else:
        outcome = cancel_mantle_job(plan, job_id)
    result = {"execution_arn": execution_arn, "status": status, "job_id": job_id, **outcome}
    common.logger.info("cleanup", extra=result)
    notify(detail.get("name") or execution_arn.rsplit(":", 1)[-1], status, result)
    return result


def read_run(states: Any, execution_arn: str) -> tuple[Plan | None, str | None]:
    """The plan (from `Validate request`'s output) and the job id (from a start step's output)."""
    history = ExecutionHistory.read(states, execution_arn)
    return history.plan(), history.started_job_id()


def stop_bedrock_job(bedrock: Any, plan: Mapping[str, Any], job_id: str | None) -> dict[str, Any]:
    identifier = job_id or plan["bedrock"]["create_job"]["JobName"]
    try:
        job = bedrock.get_model_customization_job(jobIdentifier=identifier)
    except ClientError as exc:
        if _code(exc) == "ResourceNotFoundException":
            return {"action": "none", "reason": f"no Bedrock job {identifier} was created"}
        raise
    if job_state("bedrock", str(job.get("status"))).terminal:
        return {"action": "none", "reason": f"Bedrock job {identifier} already ended ({job.get('status')})"}
    try:
        bedrock.stop_model_customization_job(jobIdentifier=identifier)
    except ClientError as exc:
        if _code(exc) not in JOB_ALREADY_ENDED_CODES:
            raise
        return {"action": "none", "reason": f"Bedrock job {identifier} ended before it could be stopped"}
    return {"action": "stopped", "job": job.get("jobArn", identifier)}


def cancel_mantle_job(plan: Mapping[str, Any], job_id: str | None) -> dict[str, Any]:
    client = mantle_client(plan)
    if job_id is None:
        mantle = plan["mantle"]
        record = mantle_start.read_start_record(
            common.client("s3"), mantle["start_record"], mantle["request_token"]
        )
        found = mantle_start.job_of_record(client, record)
        if found is None:
            return {"action": "none", "reason": "no Mantle job was created"}
        job_id = found.id
    job = rft_mantle.get_job(client, job_id)
    if job.state.terminal:
        reason = f"Mantle job {job_id} already ended ({job.status})"
        return {"action": "none", "reason": reason, "job": job_id}
    cancelled = rft_mantle.cancel_job(client, job_id)
    return {"action": "cancelled", "job": job_id, "job_status": cancelled.status}


def notify(run: str, status: str, result: Mapping[str, Any]) -> None:
    topic = os.environ.get("TOPIC_ARN")
    if not topic:
        return
    what = {"stopped": "its job was stopped", "cancelled": "its job was cancelled"}.get(
        str(result.get("action")), f"nothing was left to stop: {result.get('reason')}"
    )
    common.client("sns").publish(
        TopicArn=topic,
        Subject=f"RFT run {run} {status.lower().replace('_', ' ')}"[:100],
        Message=f"The RFT run {run} ended as {status}; {what}. Execution: {result['execution_arn']}",
    )


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))
