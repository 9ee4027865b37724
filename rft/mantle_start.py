"""Starting a Mantle job safely when a start may be retried (the workflow's Mantle start step).

Mantle has no client request token, so the start step keeps its own record in S3, keyed by the
run's request token: the uploaded file ids, when the create request was sent, and the job id.
A retried start resumes from it instead of uploading and creating again.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from rft import assumptions
from rft.aws import parse_s3_uri
from rft.errors import MantleError
from rft.mantle import MantleJob, call_mantle, create_reinforcement_job, get_job, upload_s3_object

CLOCK_SKEW_SECONDS = 300  # Lambda's clock vs Mantle's `created_at`
RECOVERY_SCAN_LIMIT = 100  # jobs looked at when recovering an interrupted create (one list page)


@dataclass(frozen=True)
class StartRecord:
    request_token: str
    training_file: str | None = None
    validation_file: str | None = None
    create_sent_at: int | None = None  # Unix seconds, written just before the create request
    job_id: str | None = None

    def to_json(self) -> bytes:
        return json.dumps(
            {
                "request_token": self.request_token,
                "training_file": self.training_file,
                "validation_file": self.validation_file,
                "create_sent_at": self.create_sent_at,
                "job_id": self.job_id,
            },
            sort_keys=True,
        ).encode("utf-8")

    @classmethod
    def from_json(cls, data: bytes, request_token: str) -> StartRecord:
        try:
            raw = json.loads(data)
        except ValueError as exc:
            raise MantleError(f"The start record of request {request_token} is not JSON: {exc}") from exc
        if not isinstance(raw, dict) or raw.get("request_token") != request_token:
            raise MantleError(f"The start record of request {request_token} belongs to another request.")
        return cls(
            request_token=request_token,
            training_file=raw.get("training_file"),
            validation_file=raw.get("validation_file"),
            create_sent_at=raw.get("create_sent_at"),
            job_id=raw.get("job_id"),
        )


def read_start_record(s3_client: Any, uri: str, request_token: str) -> StartRecord | None:
    """The record an earlier attempt of this request left, or None if it left none."""
    from botocore.exceptions import ClientError

    location = parse_s3_uri(uri)
    try:
        body = s3_client.get_object(Bucket=location.bucket, Key=location.key)["Body"]
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404", "NotFound"):
            return None
        raise
    try:
        return StartRecord.from_json(body.read(), request_token)
    finally:
        body.close()


def write_start_record(s3_client: Any, uri: str, record: StartRecord) -> None:
    location = parse_s3_uri(uri)
    s3_client.put_object(
        Bucket=location.bucket, Key=location.key, Body=record.to_json(), ContentType="application/json"
    )


def find_created_job(client: Any, record: StartRecord) -> MantleJob | None:
    """After an interrupted create: the job whose training file is the one this request uploaded
    (file ids are unique per upload), among the jobs created since the create was sent. Reads one
    page of the newest jobs with only the `limit` parameter the AWS samples use, so the scan is
    bounded whatever the server does with other parameters."""
    if not (record.training_file and record.create_sent_at is not None):
        return None
    if not assumptions.MANTLE_JOB_LIST_NEWEST_FIRST_WITH_TRAINING_FILE:
        return None
    oldest = record.create_sent_at - CLOCK_SKEW_SECONDS

    def scan() -> MantleJob | None:
        page = client.fine_tuning.jobs.list(limit=RECOVERY_SCAN_LIMIT)
        for job in getattr(page, "data", None) or []:
            created = getattr(job, "created_at", None)
            if isinstance(created, int | float) and created < oldest:
                return None  # newest first: everything further down is older than this run
            if getattr(job, "training_file", None) == record.training_file:
                return MantleJob.from_sdk(job)
        return None

    return call_mantle(scan, "list jobs")


def job_of_record(client: Any, record: StartRecord | None) -> MantleJob | None:
    """The job a start record points to (its id, or the recovery scan), None when none exists."""
    if record is None:
        return None
    if record.job_id:
        return get_job(client, record.job_id)
    return find_created_job(client, record)


def start_job(
    client: Any,
    s3_client: Any,
    plan: Mapping[str, Any],
    *,
    spool_dir: str | None = None,
    clock: Callable[[], float] = time.time,
) -> MantleJob:
    """The workflow's Mantle start step: ``plan`` is ``rft.job_plan.plan_job(...)["mantle"]``.

    Safe to retry without any server-side feature beyond what the AWS samples show: files uploaded
    by an earlier attempt are reused, a job it created is returned, and a create that may have
    reached Mantle without an answer is looked up before creating again.
    """
    token = plan["request_token"]
    record_uri = plan["start_record"]
    record = read_start_record(s3_client, record_uri, token) or StartRecord(request_token=token)
    existing = job_of_record(client, record)
    if existing is not None:
        if record.job_id != existing.id:
            write_start_record(s3_client, record_uri, replace(record, job_id=existing.id))
        return existing
    training_file = record.training_file
    if training_file is None:
        training_file = upload_s3_object(client, s3_client, plan["training_data"], spool_dir=spool_dir)
        validation_file = (
            upload_s3_object(client, s3_client, plan["validation_data"], spool_dir=spool_dir)
            if plan.get("validation_data")
            else None
        )
        record = replace(record, training_file=training_file, validation_file=validation_file)
    record = replace(record, create_sent_at=int(clock()))
    write_start_record(s3_client, record_uri, record)
    job = create_reinforcement_job(
        client,
        model=plan["model"],
        training_file=training_file,
        grader_arn=plan["grader_arn"],
        hyperparameters=plan.get("hyperparameters") or {},
        validation_file=record.validation_file,
        suffix=plan.get("suffix"),
        metadata=plan.get("metadata"),
    )
    write_start_record(s3_client, record_uri, replace(record, job_id=job.id))
    return job
