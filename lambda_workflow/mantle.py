"""The Mantle (OpenAI-compatible) plane's steps: start, status (with metrics) and cancel.

Event: ``{"action": "start" | "status" | "cancel", "plan": <rft.jobs plan>, "job_id": ...}``.

The openai SDK authenticates with the function's own role: a short-term Bedrock API key made from
its credentials (or SigV4 with ``MANTLE_AUTH=sigv4``); nothing secret is stored. ``MANTLE_BASE_URL``
overrides the region's endpoint (a private endpoint, or a local fake in tests).

Errors: ``MantleRetryableError`` (throttled, unavailable) is retried by the state machine with
jittered backoff; any other ``MantleError`` fails the step with Mantle's message.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import cache
from typing import Any, Literal

from lambda_workflow import common
from rft import assumptions, mantle_metrics, mantle_start
from rft import mantle as rft_mantle
from rft.aws import parse_s3_uri
from rft.status import JobState

# Lambda's ephemeral storage, sized (2 GB) for the largest training file.
SPOOL_DIR = "/tmp"  # nosec B108  # only unnamed TemporaryFile spools go here, created exclusively

AuthMode = Literal["bearer", "sigv4"]


def handler(event: dict[str, Any], context: object = None) -> dict[str, Any]:
    action = event.get("action")
    plan = event.get("plan") or {}
    if action == "start":
        return start(plan)
    if action == "status":
        return status(plan, str(event["job_id"]))
    if action == "cancel":
        return cancel(plan, str(event["job_id"]))
    raise ValueError(f"unknown action {action!r}; expected start, status or cancel")


def start(plan: Mapping[str, Any]) -> dict[str, Any]:
    client = mantle_client(plan)
    job = mantle_start.start_job(client, common.client("s3"), plan["mantle"], spool_dir=_spool_dir())
    common.logger.info("mantle job started", extra={"run": plan.get("name"), "job": job.id})
    return job.to_dict()


def status(plan: Mapping[str, Any], job_id: str) -> dict[str, Any]:
    """The job's status, plus its per-step metrics saved as JSON lines and summarised for the record."""
    client = mantle_client(plan)
    job = rft_mantle.get_job(client, job_id)
    metrics = mantle_metrics.list_step_metrics(client, job_id)
    metrics_uri = plan.get("metrics_s3_uri") or ""
    if metrics and metrics_uri:
        location = parse_s3_uri(metrics_uri)
        # The whole series each time: the object is always the complete, ordered record of the run.
        common.client("s3").put_object(
            Bucket=location.bucket,
            Key=location.key,
            Body=mantle_metrics.metrics_jsonl(metrics).encode("utf-8"),
            ContentType="application/x-ndjson",
        )
    summary = mantle_metrics.summarize_metrics(metrics)
    common.logger.info(
        "mantle job status",
        extra={
            "job": job_id,
            "status": job.status,
            "steps": len(metrics),
            "reward": summary.get("reward_last"),
        },
    )
    return {
        **job.to_dict(),
        "failure_message": failure_message(job),
        "metrics": summary,
        "metrics_uri": metrics_uri if metrics else "",
    }


def cancel(plan: Mapping[str, Any], job_id: str) -> dict[str, Any]:
    job = rft_mantle.cancel_job(mantle_client(plan), job_id)
    common.logger.info("mantle job cancelled", extra={"job": job_id, "status": job.status})
    return job.to_dict()


def failure_message(job: rft_mantle.MantleJob) -> str:
    """Always a string (the state machine formats it into the failure cause)."""
    if job.error:
        return job.error
    if job.state in (JobState.FAILED, JobState.STOPPED):
        return f"Mantle reported status {job.status!r} without an error message"
    return ""


def mantle_client(plan: Mapping[str, Any]) -> Any:
    mantle_plan = plan.get("mantle") or {}
    base_url = os.environ.get("MANTLE_BASE_URL") or mantle_plan.get("base_url")
    return _client(str(plan.get("region") or common.region()), base_url, _auth())


@cache
def _client(region: str, base_url: str | None, auth: AuthMode) -> Any:
    # Kept for the container's life: the bearer token provider renews its key before it expires.
    return rft_mantle.mantle_client(region, base_url=base_url, auth=auth)


_AUTH_MODES: dict[str, AuthMode] = {"bearer": "bearer", "sigv4": "sigv4"}


def _auth() -> AuthMode:
    default = "bearer" if assumptions.MANTLE_ACCEPTS_SHORT_TERM_API_KEYS else "sigv4"
    value = os.environ.get("MANTLE_AUTH", default)
    if value not in _AUTH_MODES:
        raise ValueError(f"MANTLE_AUTH must be 'bearer' or 'sigv4', not {value[:40]!r}.")
    return _AUTH_MODES[value]


def _spool_dir() -> str | None:
    return SPOOL_DIR if os.path.isdir(SPOOL_DIR) else None
