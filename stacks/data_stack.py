"""The stateful data plane: the data key and the buckets. Retained and protected in prod."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from rft import names
from stacks.config import EnvironmentSettings
from stacks.constructs.hardened_bucket import HardenedBucket


class DataStack(cdk.Stack):
    """KMS key, `datasets` and `artifacts` buckets, and the access-logs bucket they log to."""

    def __init__(
        self, scope: Construct, construct_id: str, *, settings: EnvironmentSettings, **kwargs
    ) -> None:
        super().__init__(scope, construct_id, termination_protection=settings.retain_data, **kwargs)
        retain = settings.retain_data
        removal = cdk.RemovalPolicy.RETAIN if retain else cdk.RemovalPolicy.DESTROY

        self.data_key = kms.Key(
            self,
            "DataKey",
            description=f"rft-stack {settings.name}: training data, artifacts and custom models",
            enable_key_rotation=True,
            removal_policy=removal,
            pending_window=cdk.Duration.days(30 if retain else 7),
        )

        self.access_logs_bucket: s3.IBucket = HardenedBucket(
            self,
            "AccessLogs",
            retain=retain,
            noncurrent_version_expiration_days=settings.noncurrent_version_expiration_days,
        ).bucket
        self.datasets_bucket: s3.IBucket = self._data_bucket("Datasets", settings)
        self.artifacts_bucket: s3.IBucket = self._data_bucket("Artifacts", settings)

        cdk.CfnOutput(self, names.DATASETS_BUCKET_OUTPUT, value=self.datasets_bucket.bucket_name)
        cdk.CfnOutput(self, names.ARTIFACTS_BUCKET_OUTPUT, value=self.artifacts_bucket.bucket_name)
        cdk.CfnOutput(self, names.DATA_KEY_OUTPUT, value=self.data_key.key_arn)

    def _data_bucket(self, construct_id: str, settings: EnvironmentSettings) -> s3.IBucket:
        return HardenedBucket(
            self,
            construct_id,
            retain=settings.retain_data,
            noncurrent_version_expiration_days=settings.noncurrent_version_expiration_days,
            encryption_key=self.data_key,
            access_logs=self.access_logs_bucket,
            access_logs_prefix=f"{construct_id.lower()}/",
        ).bucket
