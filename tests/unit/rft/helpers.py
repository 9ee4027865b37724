"""Small builders shared by the rft unit tests."""

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3
from moto import mock_aws


def record(i: int = 0, **overrides) -> dict:
    base = {
        "messages": [
            {"role": "system", "content": "Answer with #### N."},
            {"role": "user", "content": f"What is {i} + 1?"},
        ],
        "reference_answer": {"answer": str(i + 1)},
        "task_id": f"t-{i}",
    }
    base.update(overrides)
    return base


def jsonl(records) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in records).encode("utf-8")


@contextmanager
def s3_with_buckets(region: str, *buckets: str) -> Iterator[Any]:
    """An S3 client of moto in `region`, the empty `buckets` created there."""
    # Outside us-east-1, S3 refuses a bucket whose configuration does not name the region.
    where = {} if region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": region}}
    with mock_aws():
        client = boto3.client("s3", region_name=region)
        for bucket in buckets:
            client.create_bucket(Bucket=bucket, **where)
        yield client
