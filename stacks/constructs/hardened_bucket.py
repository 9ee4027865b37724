"""An S3 bucket with the project's baseline: private, TLS-only, versioned, logged, lifecycled."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct


class HardenedBucket(Construct):
    """A bucket that is private, TLS-only, versioned and cleaned up by lifecycle rules.

    Data buckets pass `encryption_key` (SSE-KMS with S3 bucket keys) and `access_logs`
    (server access logging into the log bucket). The log bucket itself passes neither: S3 log
    delivery writes only into SSE-S3 buckets, and a log bucket cannot usefully log to itself.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        retain: bool,
        noncurrent_version_expiration_days: int,
        encryption_key: kms.IKey | None = None,
        access_logs: s3.IBucket | None = None,
        access_logs_prefix: str | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        encryption = s3.BucketEncryption.KMS if encryption_key else s3.BucketEncryption.S3_MANAGED
        self.bucket = s3.Bucket(
            self,
            "Bucket",
            encryption=encryption,
            encryption_key=encryption_key,
            bucket_key_enabled=encryption_key is not None,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            enforce_ssl=True,
            minimum_tls_version=1.2,
            versioned=True,
            server_access_logs_bucket=access_logs,
            server_access_logs_prefix=access_logs_prefix,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="abort-incomplete-multipart-uploads",
                    abort_incomplete_multipart_upload_after=cdk.Duration.days(7),
                ),
                s3.LifecycleRule(
                    id="expire-noncurrent-versions",
                    noncurrent_version_expiration=cdk.Duration.days(noncurrent_version_expiration_days),
                ),
            ],
            removal_policy=cdk.RemovalPolicy.RETAIN if retain else cdk.RemovalPolicy.DESTROY,
            auto_delete_objects=not retain,
        )
