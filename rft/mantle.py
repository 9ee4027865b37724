"""The OpenAI-compatible Mantle endpoint: an authenticated client and the fine-tuning calls.

Authentication uses the caller's own AWS identity, never a stored secret: by default a short-term
Bedrock API key (``aws_bedrock_token_generator``, refreshed before it expires) sent as a bearer
token, which lets file uploads stream; ``auth="sigv4"`` signs every request with SigV4 (service
``bedrock-mantle``) through the openai SDK's Bedrock provider, which needs replayable bodies and so
buffers uploads in memory.

``openai`` is imported inside the functions: the rest of ``rft`` (and the Lambdas that only
validate) must import without it.
"""

from __future__ import annotations

import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import IO, Any, Literal

from rft import assumptions, catalog
from rft.aws import parse_s3_uri
from rft.errors import MantleError, MantleRetryableError
from rft.status import JobState, job_state

TOKEN_LIFETIME_SECONDS = 3600
TOKEN_REFRESH_MARGIN_SECONDS = 600
FILE_PURPOSE = "fine-tune"
UPLOAD_CHUNK_BYTES = 1024 * 1024
REWARD_METRIC = "critic_rewards_mean"


# --- Client -------------------------------------------------------------------------------------


class BedrockTokenProvider:
    """Callable returning a short-term Bedrock API key made from AWS credentials, cached and
    renewed ``TOKEN_REFRESH_MARGIN_SECONDS`` before it expires."""

    def __init__(
        self,
        region: str,
        session: Any | None = None,
        *,
        lifetime_seconds: int = TOKEN_LIFETIME_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._region = region
        self._session = session
        self._lifetime = lifetime_seconds
        self._clock = clock
        self._token: str | None = None
        self._expires = 0.0
        self._lock = threading.Lock()

    def __call__(self) -> str:
        with self._lock:
            if self._token is None or self._clock() >= self._expires - TOKEN_REFRESH_MARGIN_SECONDS:
                self._token = self._generate()
                self._expires = self._clock() + self._lifetime
            return self._token

    def _generate(self) -> str:
        from aws_bedrock_token_generator import provide_token

        credentials = _credentials(self._session)

        class _Loaded:  # the CredentialProvider shape provide_token() calls .load() on
            def load(self) -> Any:
                return credentials

        return provide_token(
            region=self._region, aws_credentials_provider=_Loaded(), expiry=timedelta(seconds=self._lifetime)
        )


def _credentials(session: Any | None) -> Any:
    if session is None:
        import boto3

        session = boto3.session.Session()
    credentials = session.get_credentials()
    if credentials is None:
        raise MantleError("No AWS credentials found to authenticate to Mantle (set a profile or a role).")
    return credentials.get_frozen_credentials()


def mantle_client(
    region: str,
    *,
    session: Any | None = None,
    auth: Literal["bearer", "sigv4"] | None = None,
    base_url: str | None = None,
    timeout: float = 60.0,
    max_retries: int = 3,
    http_client: Any | None = None,
) -> Any:
    """An ``openai.OpenAI`` for Mantle in ``region``, authenticated from ``session``'s credentials
    (a boto3 or botocore session; the default credential chain when None). ``base_url`` overrides
    the region's endpoint (tests point it at a local fake). ``auth`` None picks bearer keys unless
    ``assumptions.MANTLE_ACCEPTS_SHORT_TERM_API_KEYS`` says Mantle refuses them."""
    import openai

    if auth is None:
        auth = "bearer" if assumptions.MANTLE_ACCEPTS_SHORT_TERM_API_KEYS else "sigv4"
    url = base_url or catalog.mantle_base_url(region)
    common: dict[str, Any] = {"timeout": timeout, "max_retries": max_retries}
    if http_client is not None:
        common["http_client"] = http_client
    if auth == "bearer":
        return openai.OpenAI(api_key=BedrockTokenProvider(region, session), base_url=url, **common)
    if auth == "sigv4":
        from openai.providers.bedrock import bedrock

        provider = bedrock(
            endpoint="mantle",
            region=region,
            base_url=url,
            credential_provider=lambda: _credentials(session),
        )
        return openai.OpenAI(provider=provider, **common)
    raise ValueError(f"auth must be 'bearer' or 'sigv4', not {auth!r}")


# --- Jobs ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MantleJob:
    id: str
    status: str  # Mantle's own word
    state: JobState  # the common vocabulary
    model: str
    fine_tuned_model: str | None = None
    error: str | None = None
    created_at: int | None = None
    finished_at: int | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "status": self.status,
            "state": self.state.value,
            "terminal": self.state.terminal,
            "model": self.model,
            "fine_tuned_model": self.fine_tuned_model,
            "error": self.error,
            "created_at": self.created_at,
            "finished_at": self.finished_at,
            "metadata": dict(self.metadata),
        }

    @classmethod
    def from_sdk(cls, job: Any) -> MantleJob:
        error = getattr(job, "error", None)
        message = None
        if error is not None:
            message = getattr(error, "message", None) or (
                error.get("message") if isinstance(error, dict) else None
            )
            message = message or str(error)
        return cls(
            id=job.id,
            status=job.status,
            state=job_state("mantle", job.status),
            model=job.model,
            fine_tuned_model=getattr(job, "fine_tuned_model", None),
            error=message,
            created_at=getattr(job, "created_at", None),
            finished_at=getattr(job, "finished_at", None),
            metadata=dict(getattr(job, "metadata", None) or {}),
        )


@dataclass(frozen=True)
class StepMetrics:
    step: int
    total_steps: int | None
    values: Mapping[str, float]
    created_at: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "total_steps": self.total_steps,
            "created_at": self.created_at,
            **self.values,
        }


def reinforcement_method(grader_arn: str, hyperparameters: Mapping[str, Any]) -> dict[str, Any]:
    """The `method` body of a reinforcement job with a Lambda grader (sent via ``extra_body``:
    the SDK's typed grader union has no lambda member)."""
    return {
        "type": "reinforcement",
        "reinforcement": {
            "grader": {"type": "lambda", "lambda": {"function": grader_arn}},
            "hyperparameters": dict(hyperparameters),
        },
    }


def upload_file(client: Any, stream: IO[bytes], *, filename: str, spool_dir: str | None = None) -> str:
    """Upload a JSONL training file with purpose ``fine-tune``; returns the file id.

    The stream (e.g. an S3 ``StreamingBody``) is copied in chunks to a temporary file first, so the
    upload can be retried from the start and memory stays constant whatever the file's size. A
    A SigV4-signing client cannot upload: openai 3.51 always streams multipart bodies and its
    SigV4 signer refuses streamed bodies (before sending anything), so that case is one clear
    MantleError.
    """
    import openai

    with tempfile.TemporaryFile(dir=spool_dir) as spool:
        size = 0
        while chunk := stream.read(UPLOAD_CHUNK_BYTES):
            size += len(chunk)
            if size > assumptions.MANTLE_MAX_FILE_BYTES:
                raise MantleError(
                    f"{filename} is larger than the {assumptions.MANTLE_MAX_FILE_BYTES:,} bytes "
                    "Mantle accepts."
                )
            spool.write(chunk)
        spool.seek(0)

        def create(content: Any) -> Any:
            return client.files.create(file=(filename, content, "application/jsonl"), purpose=FILE_PURPOSE)

        try:
            uploaded = _call(lambda: create(spool), f"upload {filename}")
        except openai.OpenAIError as exc:
            if isinstance(exc, openai.APIError):
                raise
            raise MantleError(
                f"Cannot upload {filename}: this client signs with SigV4, which the openai SDK cannot do "
                f"for file uploads ({exc}); use a bearer-key client (mantle_client(..., auth='bearer'))."
            ) from exc
    return uploaded.id


def upload_s3_object(client: Any, s3_client: Any, uri: str, *, spool_dir: str | None = None) -> str:
    """Stream ``s3://bucket/key`` into the Files API; returns the file id."""
    location = parse_s3_uri(uri)
    body = s3_client.get_object(Bucket=location.bucket, Key=location.key)["Body"]
    try:
        return upload_file(
            client, body, filename=location.key.rsplit("/", 1)[-1] or "train.jsonl", spool_dir=spool_dir
        )
    finally:
        body.close()


def create_reinforcement_job(
    client: Any,
    *,
    model: str,
    training_file: str,
    grader_arn: str,
    hyperparameters: Mapping[str, Any] | None = None,
    validation_file: str | None = None,
    suffix: str | None = None,
    metadata: Mapping[str, str] | None = None,
) -> MantleJob:
    """Create the job with exactly the fields AWS shows Mantle accepting (``model``,
    ``training_file``, ``method``); each optional extra is sent only while its flag in
    ``rft.assumptions`` says Mantle takes it, and asking for one that is off is an error rather
    than a silent drop. The SDK does not retry this POST (a retry after a timeout could create a
    second job); ``start_job`` recovers instead."""
    kwargs: dict[str, Any] = {
        "model": model,
        "training_file": training_file,
        "extra_body": {"method": reinforcement_method(grader_arn, hyperparameters or {})},
    }
    extras = (
        ("validation_file", validation_file, assumptions.MANTLE_VALIDATION_FILE_SUPPORTED),
        ("suffix", suffix, assumptions.MANTLE_JOB_SUFFIX_SUPPORTED),
        ("metadata", dict(metadata) if metadata else None, assumptions.MANTLE_JOB_METADATA_SUPPORTED),
    )
    for name, value, supported in extras:
        if not value:
            continue
        if not supported:
            raise MantleError(
                f"Mantle jobs are not known to accept {name!r} (rft.assumptions says it is unconfirmed); "
                "leave it out, or confirm it and turn its flag on."
            )
        kwargs[name] = value
    jobs = client.with_options(max_retries=0).fine_tuning.jobs
    return MantleJob.from_sdk(_call(lambda: jobs.create(**kwargs), f"create a job on {model}"))


# --- Idempotent start -----------------------------------------------------------------------------

# Mantle has no client request token, so the start step keeps its own record in S3, keyed by the
# run's request token: the uploaded file ids, when the create request was sent, and the job id.
# A retried start resumes from it instead of uploading and creating again.
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
        import json

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
        import json

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

    return _call(scan, "list jobs")


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
    """The workflow's Mantle start step: ``plan`` is ``rft.jobs.plan_job(...)["mantle"]``.

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


def get_job(client: Any, job_id: str) -> MantleJob:
    return MantleJob.from_sdk(_call(lambda: client.fine_tuning.jobs.retrieve(job_id), f"get job {job_id}"))


def cancel_job(client: Any, job_id: str) -> MantleJob:
    """Cancel a job; a job that already ended is returned as it is (cleanup may run twice)."""
    import openai

    try:
        return MantleJob.from_sdk(client.fine_tuning.jobs.cancel(job_id))
    except openai.APIStatusError as exc:
        if exc.status_code in (400, 409):
            job = get_job(client, job_id)
            if job.state.terminal:
                return job
        raise _mantle_error(exc, f"cancel job {job_id}") from exc
    except openai.APIError as exc:
        raise _mantle_error(exc, f"cancel job {job_id}") from exc


def list_step_metrics(client: Any, job_id: str, *, page_size: int = 100) -> list[StepMetrics]:
    """Every per-step metrics event of a job, one per step (the latest wins), by step."""

    def collect() -> list[StepMetrics]:
        by_step: dict[int, StepMetrics] = {}
        for event in client.fine_tuning.jobs.list_events(job_id, limit=page_size):
            metrics = parse_metrics_event(event)
            if metrics is None:
                continue
            known = by_step.get(metrics.step)
            if known is None or (metrics.created_at or 0) >= (known.created_at or 0):
                by_step[metrics.step] = metrics
        return [by_step[step] for step in sorted(by_step)]

    return _call(collect, f"list events of job {job_id}")


def parse_metrics_event(event: Any) -> StepMetrics | None:
    """A metrics event → StepMetrics; None for other events (messages, status changes)."""
    data = getattr(event, "data", None) if not isinstance(event, Mapping) else event.get("data")
    if not isinstance(data, Mapping):
        return None
    step = data.get("step")
    if isinstance(step, bool) or not isinstance(step, int | float):
        return None
    total = data.get("total_steps")
    values = {
        str(key): float(value)
        for key, value in data.items()
        if key not in ("step", "total_steps")
        and isinstance(value, int | float)
        and not isinstance(value, bool)
    }
    created = (
        getattr(event, "created_at", None) if not isinstance(event, Mapping) else event.get("created_at")
    )
    return StepMetrics(
        step=int(step),
        total_steps=int(total) if isinstance(total, int | float) and not isinstance(total, bool) else None,
        values=values,
        created_at=created,
    )


def metrics_jsonl(metrics: Iterable[StepMetrics]) -> str:
    """The per-step metrics as JSON lines (what the workflow saves to the artifacts bucket)."""
    import json

    return "".join(json.dumps(m.to_dict(), sort_keys=True) + "\n" for m in metrics)


def summarize_metrics(
    metrics: Sequence[StepMetrics], *, reward_metric: str = REWARD_METRIC, max_points: int = 100
) -> dict[str, Any]:
    """A small summary for the model record: progress, the reward's first/last/best, the last
    values of every metric, and a thinned reward series (at most ``max_points`` points)."""
    if not metrics:
        return {}
    last = metrics[-1]
    rewards = [(m.step, m.values[reward_metric]) for m in metrics if reward_metric in m.values]
    summary: dict[str, Any] = {
        "steps_reported": len(metrics),
        "last_step": last.step,
        "total_steps": last.total_steps,
        "last": dict(last.values),
    }
    if rewards:
        summary["reward_metric"] = reward_metric
        summary["reward_first"] = rewards[0][1]
        summary["reward_last"] = rewards[-1][1]
        summary["reward_max"] = max(value for _, value in rewards)
        stride = max(1, -(-len(rewards) // max_points))
        series = rewards[::stride]
        if series[-1] != rewards[-1]:
            series.append(rewards[-1])
        summary["series"] = {reward_metric: [[step, round(value, 6)] for step, value in series]}
    return summary


# --- Errors -------------------------------------------------------------------------------------


def _call(fn: Callable[[], Any], what: str) -> Any:
    import openai

    try:
        return fn()
    except openai.APIError as exc:
        raise _mantle_error(exc, what) from exc


def _mantle_error(exc: Exception, what: str) -> MantleError:
    import openai

    if isinstance(exc, openai.APIStatusError):
        detail = getattr(exc, "message", None) or str(exc)
        message = f"Mantle refused to {what}: HTTP {exc.status_code}: {detail}"
        if exc.status_code in (429, 503):
            return MantleRetryableError(message)
        return MantleError(message)
    if isinstance(exc, openai.APIConnectionError):
        return MantleRetryableError(f"Could not reach Mantle to {what}: {exc}")
    return MantleError(f"Mantle failed to {what}: {exc}")
