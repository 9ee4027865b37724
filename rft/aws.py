"""Small AWS helpers: S3 URIs and boto3 clients with a retry policy."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from rft.errors import RftError
from rft.quoting import quote

# The S3 URI shape Bedrock accepts for training, validation and output data (botocore's `S3Uri`):
# a URI outside it is refused by CreateModelCustomizationJob, so it is refused here first.
BEDROCK_S3_URI = re.compile(
    r"s3://[a-z0-9][-.a-z0-9]{1,61}[a-z0-9](?:/[-!_*'().a-z0-9A-Z]+(?:/[-!_*'().a-z0-9A-Z]+)*)?/?"
)

# botocore's `S3Uri` shape also caps the length (max 1024): a longer URI fails CreateModelCustomizationJob.
S3_URI_MAX_CHARS = 1024

# Standard retries with client-side rate limiting: the workflow's Lambdas and the CLI share
# account-wide Bedrock/SSM quotas, so backing off on throttling beats failing fast.
RETRY_CONFIG: dict[str, Any] = {"mode": "adaptive", "max_attempts": 8}


@dataclass(frozen=True)
class S3Uri:
    bucket: str
    key: str

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


def parse_s3_uri(uri: str) -> S3Uri:
    """Split ``s3://bucket/key``; raise RftError with the URI when it is not one."""
    if not isinstance(uri, str) or not uri.startswith("s3://"):
        raise RftError(f"{quote(uri)} is not an S3 URI (expected s3://bucket/key).")
    bucket, _, key = uri[len("s3://") :].partition("/")
    if not bucket:
        raise RftError(f"{quote(uri)} has no bucket name (expected s3://bucket/key).")
    return S3Uri(bucket=bucket, key=key)


def is_bedrock_s3_uri(uri: str) -> bool:
    return BEDROCK_S3_URI.fullmatch(uri) is not None


def client(service: str, *, region: str | None = None, session: Any | None = None) -> Any:
    """A boto3 client with this project's retry policy (boto3 imported here, not at module load)."""
    import boto3
    from botocore.config import Config

    config = Config(retries=dict(RETRY_CONFIG))
    factory = session if session is not None else boto3.session.Session()
    return factory.client(service, region_name=region, config=config)
