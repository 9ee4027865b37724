"""The stateful data plane: the data key and the buckets. Retained and protected in prod."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from constructs import Construct

from rft import names
from rft.assumptions import GENERATED_NAMES
from stacks.config import EnvironmentSettings
from stacks.constructs.hardened_bucket import HardenedBucket
from stacks.security import auto_delete_handler, logs_the_others, sid_word


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
        logs_the_others(self.access_logs_bucket, "the data buckets log to")
        self.datasets_bucket: s3.IBucket = self._data_bucket("Datasets", settings)
        self.artifacts_bucket: s3.IBucket = self._data_bucket("Artifacts", settings)

        auto_delete_handler(self)

        cdk.CfnOutput(self, names.DATASETS_BUCKET_OUTPUT, value=self.datasets_bucket.bucket_name)
        cdk.CfnOutput(self, names.ARTIFACTS_BUCKET_OUTPUT, value=self.artifacts_bucket.bucket_name)
        cdk.CfnOutput(self, names.DATA_KEY_OUTPUT, value=self.data_key.key_arn)

    def allow_log_groups_of(self, stacks: Iterable[cdk.Stack]) -> None:
        """Lets CloudWatch Logs use the data key for the log groups of `stacks`, and no others.

        The log groups have generated names, which CloudFormation starts with the stack's name
        (`<stack name>-<logical id>-<suffix>`, `rft.assumptions.GENERATED_NAMES`),
        so the key policy can name them by that prefix without a reference back into the stacks
        that own them (which would make the data stack depend on every other stack).
        """
        stack_names = sorted({stack.stack_name for stack in stacks if creates_log_groups(stack)})
        if not stack_names:
            return
        self.data_key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CloudWatchLogsEncryptsThisEnvironmentsLogGroups",
                principals=[iam.ServicePrincipal(f"logs.{self.region}.amazonaws.com")],
                # The actions CloudWatch Logs documents for a log group's KMS key.
                actions=[
                    "kms:Encrypt*",
                    "kms:Decrypt*",
                    "kms:ReEncrypt*",
                    "kms:GenerateDataKey*",
                    "kms:Describe*",
                ],
                resources=["*"],
                conditions={
                    "ArnLike": {
                        "kms:EncryptionContext:aws:logs:arn": [
                            f"arn:{self.partition}:logs:{self.region}:{self.account}:log-group:"
                            + GENERATED_NAMES.format(stack=name)
                            for name in stack_names
                        ]
                    }
                },
            )
        )

    def allow_promotion_to(self, accounts: Mapping[str, str]) -> None:
        """Lets each account of `accounts` (by environment name) copy this environment's custom
        models, which the data key encrypts (`rft.assumptions.MODEL_COPY_NEEDS_SOURCE_KEY_GRANT`).

        The target's copy job reads the model through Bedrock, so the account may use the key only
        through Bedrock in this region (`kms:ViaService`). Two statements, as for any key shared with
        another account: using the key, and granting it, where the grant must be for an AWS
        resource (Bedrock's grant for the copy job, `kms:GrantIsForAWSResource`), never a grant
        the other account could hand to a principal of its own.
        """
        through_bedrock = {"kms:ViaService": f"bedrock.{self.region}.amazonaws.com"}
        for name, account in sorted(accounts.items()):
            sid = sid_word(name)
            principal = iam.AccountPrincipal(account)
            self.data_key.add_to_resource_policy(
                iam.PolicyStatement(
                    sid=f"PromoteTo{sid}ReadsCustomModelsThroughBedrock",
                    principals=[principal],
                    actions=["kms:Decrypt", "kms:DescribeKey"],
                    resources=["*"],
                    conditions={"StringEquals": through_bedrock},
                )
            )
            self.data_key.add_to_resource_policy(
                iam.PolicyStatement(
                    sid=f"PromoteTo{sid}LetsBedrockUseTheKeyForTheCopy",
                    principals=[principal],
                    actions=["kms:CreateGrant"],
                    resources=["*"],
                    conditions={
                        "StringEquals": through_bedrock,
                        "Bool": {"kms:GrantIsForAWSResource": "true"},
                    },
                )
            )

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


def creates_log_groups(stack: cdk.Stack) -> bool:
    return any(isinstance(child, logs.CfnLogGroup) for child in stack.node.find_all())
