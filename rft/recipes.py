"""A run's recipe: everything needed to run it again elsewhere and get the same training.

The validate step pins it into the plan (``plan["recipe"]``) and the publish step copies it into the
model record, so ``rft train reproduce`` can start the same run in another environment::

    {"plane": "bedrock" | "mantle", "base_model": ..., "region": ..., "rft_stack_version": ...,
     "datasets": {"training_data": {"uri", "sha256", "lines", "bytes"}, "validation_data": ...},
     "grader": {"name", "arn", "version", "code_sha256"},
     "hyperparameters": {...resolved...}, "request": {...the request as given...},
     "reproduced_from": "<env>/<name>" | null}

The grader is pinned by the version its `live` alias pointed to and that version's code sha256
(Lambda's `CodeSha256`, base64 of the deployment package's sha256), read with one
GetFunctionConfiguration on the alias ARN.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, BinaryIO

from rft.aws import parse_s3_uri
from rft.datasets import DatasetReport

CHUNK_BYTES = 1 << 20
DATASET_FIELDS = ("training_data", "validation_data")


@dataclass(frozen=True)
class Digest:
    sha256: str  # hex
    lines: int  # lines of text (the last one counted without a final newline)
    bytes: int

    def to_dict(self) -> dict[str, Any]:
        return {"sha256": self.sha256, "lines": self.lines, "bytes": self.bytes}


def digest_chunks(chunks: Iterable[bytes]) -> Digest:
    digest = hashlib.sha256()
    lines = size = 0
    last = b"\n"
    for chunk in chunks:
        if not chunk:
            continue
        digest.update(chunk)
        lines += chunk.count(b"\n")
        size += len(chunk)
        last = chunk[-1:]
    if last != b"\n":
        lines += 1
    return Digest(digest.hexdigest(), lines, size)


def read_chunks(stream: BinaryIO) -> Iterable[bytes]:
    while chunk := stream.read(CHUNK_BYTES):
        yield chunk


def report_digest(report: DatasetReport) -> Digest | None:
    """The digest the validation pass took of a dataset; None when it did not read the whole file."""
    if report.sha256 is None:
        return None
    return Digest(report.sha256, report.lines, report.bytes)


def s3_digest(s3: Any, uri: str) -> Digest:
    """The sha256, line and byte counts of an S3 object, streamed (never held in memory)."""
    location = parse_s3_uri(uri)
    body = s3.get_object(Bucket=location.bucket, Key=location.key)["Body"]
    return digest_chunks(read_chunks(body))


@dataclass(frozen=True)
class GraderPin:
    name: str
    arn: str
    version: str
    code_sha256: str

    def to_dict(self) -> dict[str, str]:
        return {"name": self.name, "arn": self.arn, "version": self.version, "code_sha256": self.code_sha256}


def grader_pin(lambda_client: Any, name: str, alias_arn: str) -> GraderPin:
    """The version the grader's alias points to now, and that version's code hash."""
    configuration = lambda_client.get_function_configuration(FunctionName=alias_arn)
    return GraderPin(
        name=name,
        arn=alias_arn,
        version=str(configuration.get("Version", "")),
        code_sha256=str(configuration.get("CodeSha256", "")),
    )


def code_sha256_hex(code_sha256: str) -> str:
    """Lambda's base64 CodeSha256 as hex, how messages show it (a value that is not base64 as is)."""
    try:
        return base64.b64decode(code_sha256, validate=True).hex()
    except ValueError:
        return code_sha256


def pin(
    plan: Mapping[str, Any],
    request: Mapping[str, Any],
    *,
    s3: Any,
    lambda_client: Any,
    version: str,
    digests: Mapping[str, Digest] | None = None,
) -> dict[str, Any]:
    """The recipe of a validated run (``plan`` from rft.job_plan.plan_job, ``request`` as given).

    ``digests`` are the datasets' digests by field, taken while validating them (``report_digest``);
    a dataset without one is read again to hash it."""
    datasets: dict[str, Any] = {}
    for field in DATASET_FIELDS:
        uri = plan.get(field)
        if uri:
            digest = (digests or {}).get(field) or s3_digest(s3, str(uri))
            datasets[field] = {"uri": uri, **digest.to_dict()}
    grader = grader_pin(lambda_client, str(plan["reward"]), str(plan["grader_arn"]))
    return {
        "plane": plan["provider"],
        "base_model": plan["base_model"],
        "region": plan["region"],
        "rft_stack_version": version,
        "datasets": datasets,
        "grader": grader.to_dict(),
        "hyperparameters": dict(plan.get("hyperparameters") or {}),
        "request": dict(request),
        "reproduced_from": request.get("reproduced_from"),
    }
