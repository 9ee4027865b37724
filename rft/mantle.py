"""The OpenAI-compatible Mantle endpoint: an authenticated client and the fine-tuning calls.

The retry-safe start of a job is ``rft.mantle_start``; a job's training metrics are
``rft.mantle_metrics``. Every call goes through ``call_mantle``, so a failure is one MantleError.

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
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import IO, Any, Literal, TypeVar

from rft import assumptions, catalog
from rft.aws import parse_s3_uri
from rft.errors import MantleError, MantleRetryableError
from rft.status import JobState, job_state

TOKEN_LIFETIME_SECONDS = 3600
TOKEN_REFRESH_MARGIN_SECONDS = 600
FILE_PURPOSE = "fine-tune"
T = TypeVar("T")
UPLOAD_CHUNK_BYTES = 1024 * 1024


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

        token: str = provide_token(
            region=self._region, aws_credentials_provider=_Loaded(), expiry=timedelta(seconds=self._lifetime)
        )
        return token


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
            uploaded = call_mantle(lambda: create(spool), f"upload {filename}")
        except openai.OpenAIError as exc:
            if isinstance(exc, openai.APIError):
                raise
            raise MantleError(
                f"Cannot upload {filename}: this client signs with SigV4, which the openai SDK cannot do "
                f"for file uploads ({exc}); use a bearer-key client (mantle_client(..., auth='bearer'))."
            ) from exc
    file_id: str = uploaded.id
    return file_id


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
    second job); ``rft.mantle_start.start_job`` recovers instead."""
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
    return MantleJob.from_sdk(call_mantle(lambda: jobs.create(**kwargs), f"create a job on {model}"))


def get_job(client: Any, job_id: str) -> MantleJob:
    return MantleJob.from_sdk(
        call_mantle(lambda: client.fine_tuning.jobs.retrieve(job_id), f"get job {job_id}")
    )


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


# --- Errors -------------------------------------------------------------------------------------


def call_mantle(fn: Callable[[], T], what: str) -> T:
    """``fn()``, with the openai SDK's errors turned into MantleError (retryable ones apart)."""
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
