"""The role Bedrock model customization jobs run as, and what the workflow needs to hand it over."""

from __future__ import annotations

from collections.abc import Sequence

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from rft.names import ARTIFACTS_PREFIX
from stacks.security import acknowledge_wildcard, arn, from_this_account, referenced


class BedrockServiceRole(Construct):
    """The role a customization job runs as (`roleArn`): reads the datasets, writes the run's
    outputs, uses the data key and invokes the graders' `live` aliases, nothing else."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        datasets_bucket: s3.IBucket,
        artifacts_bucket: s3.IBucket,
        data_key: kms.IKey,
        grader_alias_arns: Sequence[str],
    ) -> None:
        super().__init__(scope, construct_id)
        self.role = iam.Role(
            self,
            "Role",
            description="rft-stack: the role Bedrock model customization jobs run as",
            assumed_by=iam.ServicePrincipal(
                "bedrock.amazonaws.com",
                conditions=from_this_account(
                    cdk.Stack.of(self).account, arn(self, "bedrock", "model-customization-job/*")
                ),
            ),
        )
        datasets_arn, datasets_nag = referenced(self, datasets_bucket, datasets_bucket.bucket_arn)
        artifacts_arn, artifacts_nag = referenced(self, artifacts_bucket, artifacts_bucket.bucket_arn)
        statements = [
            iam.PolicyStatement(
                sid="ReadDatasets",
                actions=["s3:GetObject", "s3:ListBucket"],
                resources=[datasets_arn, f"{datasets_arn}/*"],
            ),
            iam.PolicyStatement(
                sid="WriteRunOutputs",
                actions=["s3:GetObject", "s3:PutObject"],
                resources=[f"{artifacts_arn}/{ARTIFACTS_PREFIX}/*"],
            ),
            iam.PolicyStatement(
                sid="ListRunOutputs",
                actions=["s3:ListBucket"],
                resources=[artifacts_arn],
                conditions={"StringLike": {"s3:prefix": [f"{ARTIFACTS_PREFIX}/*"]}},
            ),
            iam.PolicyStatement(
                sid="UseDataKey",
                actions=["kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey"],
                resources=[data_key.key_arn],
            ),
        ]
        if grader_alias_arns:
            statements.append(
                iam.PolicyStatement(
                    sid="InvokeGraders", actions=["lambda:InvokeFunction"], resources=list(grader_alias_arns)
                )
            )
        self.policy = iam.Policy(self, "Permissions", statements=statements, roles=[self.role])
        acknowledge_wildcard(
            self.policy,
            f"{datasets_nag}/*",
            "Bedrock reads the training and validation files a run names; dataset keys are chosen "
            "at upload time (content-hashed), so the datasets bucket's objects are the resource",
        )
        acknowledge_wildcard(
            self.policy,
            f"{artifacts_nag}/{ARTIFACTS_PREFIX}/*",
            f"Bedrock writes each run's outputs under {ARTIFACTS_PREFIX}/<run name>/ with keys it "
            f"chooses; limited to the {ARTIFACTS_PREFIX}/ prefix of the artifacts bucket",
        )


def allow_to_start_jobs(workflow_role: iam.IRole, *, service_role: iam.IRole, data_key: kms.IKey) -> None:
    """What the workflow's SDK tasks need beyond their own actions: pass the service role (to
    Bedrock only) and let Bedrock use the data key for the custom model on the workflow's behalf."""
    region = cdk.Stack.of(workflow_role).region
    workflow_role.add_to_principal_policy(
        iam.PolicyStatement(
            sid="PassBedrockServiceRole",
            actions=["iam:PassRole"],
            resources=[service_role.role_arn],
            conditions={"StringEquals": {"iam:PassedToService": "bedrock.amazonaws.com"}},
        )
    )
    workflow_role.add_to_principal_policy(
        iam.PolicyStatement(
            sid="EncryptCustomModels",
            actions=["kms:DescribeKey", "kms:CreateGrant", "kms:GenerateDataKey", "kms:Decrypt"],
            resources=[data_key.key_arn],
            conditions={"StringEquals": {"kms:ViaService": f"bedrock.{region}.amazonaws.com"}},
        )
    )
