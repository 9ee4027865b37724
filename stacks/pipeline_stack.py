"""The delivery pipeline: from a commit on the configured branch to every environment, in order.

Built only when cdk.json has a `pipeline` object (`stacks.config.PipelineSettings`). A self-mutating
CDK Pipelines `CodePipeline` in the pipeline account: the source comes through a CodeConnections
connection; the synth step runs the README's own commands (`make synth`, `make test`), so the
pipeline deploys nothing that the checks did not pass; then one pipeline stage per environment in
`stages` order, each deploying that environment's `RftStage` into its own account and region,
behind a manual approval where `approval_before` names it, and followed by `rft doctor --env <env>`
run under the environment's doctor role (`stacks.constructs.doctor_role`).
"""

from __future__ import annotations

from collections.abc import Mapping

import aws_cdk as cdk
from aws_cdk import aws_codebuild as codebuild
from aws_cdk import aws_codepipeline as codepipeline
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import pipelines
from constructs import Construct

from stacks.config import EnvironmentSettings, PipelineSettings, promotion_accounts
from stacks.constructs.doctor_role import doctor_role_name
from stacks.constructs.hardened_bucket import HardenedBucket
from stacks.security import (
    acknowledge,
    auto_delete_handler,
    cloudformation_resource,
    logs_the_others,
    skip_checkov,
)
from stacks.stage import RftStage

# What the README tells a person to run; the pipeline runs the same.
SYNTH_COMMANDS = ("make synth", "make test")
BUILD_IMAGE = codebuild.LinuxBuildImage.STANDARD_7_0  # Ubuntu 22.04 with Python 3.12 and the AWS CLI
DOCTOR_COMMANDS = (
    "make install",
    # The build's own role may only assume the doctor role; the checks run under that role.
    'creds=$(aws sts assume-role --role-arn "$RFT_DOCTOR_ROLE_ARN" --role-session-name rft-doctor'
    " --query 'Credentials.[AccessKeyId,SecretAccessKey,SessionToken]' --output text)",
    'read -r AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN <<< "$creds"',
    "export AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN",
    '.venv/bin/rft doctor --env "$RFT_ENV"',
)


class DeliveryPipelineStack(cdk.Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        pipeline: PipelineSettings,
        environments: Mapping[str, EnvironmentSettings],
        **kwargs,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        source = pipelines.CodePipelineSource.connection(
            pipeline.repository, pipeline.branch, connection_arn=pipeline.connection_arn
        )
        self.pipeline = pipelines.CodePipeline(
            self,
            "Pipeline",
            code_pipeline=self._artifacts_pipeline(),
            synth=pipelines.ShellStep("Synth", input=source, commands=list(SYNTH_COMMANDS)),
            self_mutation=True,
            code_build_defaults=pipelines.CodeBuildOptions(
                build_environment=codebuild.BuildEnvironment(build_image=BUILD_IMAGE)
            ),
        )
        self.stages: dict[str, RftStage] = {}
        for name in pipeline.stages:
            settings = environments[name]
            stage = RftStage(
                self,
                name,
                settings=settings,
                env=cdk.Environment(account=settings.account, region=settings.region),
                doctor_trusted_account=pipeline.account,
                promote_to=promotion_accounts(name, environments),
            )
            pre = (
                [pipelines.ManualApprovalStep(f"Approve-{name}", comment=f"Deploy rft-stack to {name}?")]
                if name in pipeline.approval_before
                else []
            )
            self.pipeline.add_stage(stage, pre=pre, post=[self._doctor(source, settings)])
            self.stages[name] = stage
        self.pipeline.build_pipeline()
        self._acknowledge_generated_permissions()
        auto_delete_handler(self)
        self._skip_asset_role_findings()

    def _artifacts_pipeline(self) -> codepipeline.Pipeline:
        """The underlying pipeline, with its artifacts in a hardened, logged bucket under a rotated key
        (each environment is another account: its deploy roles are granted this key by CDK Pipelines)."""
        key = kms.Key(
            self, "ArtifactsKey", enable_key_rotation=True, description="rft-stack pipeline artifacts"
        )
        logs = HardenedBucket(
            self, "ArtifactsAccessLogs", retain=False, noncurrent_version_expiration_days=30
        )
        artifacts = HardenedBucket(
            self,
            "Artifacts",
            retain=False,
            noncurrent_version_expiration_days=30,
            encryption_key=key,
            access_logs=logs.bucket,
            access_logs_prefix="artifacts/",
        )
        logs_the_others(logs.bucket, "the pipeline's artifact bucket logs to")
        return codepipeline.Pipeline(
            self,
            "CodePipeline",
            artifact_bucket=artifacts.bucket,
            restart_execution_on_update=True,
            pipeline_type=codepipeline.PipelineType.V2,
        )

    def _acknowledge_generated_permissions(self) -> None:
        """CDK Pipelines writes its roles' policies itself; each wildcard it uses is acknowledged here,
        by exact finding, with why it is the narrowest form CDK offers."""
        reasons = {
            "Action::s3:Abort*": "CDK Pipelines' grant on its own artifact bucket (build artifacts)",
            "Action::s3:DeleteObject*": "CDK Pipelines' grant on its own artifact bucket",
            "Action::s3:GetBucket*": "CDK Pipelines' grant on its own artifact bucket",
            "Action::s3:GetObject*": "CDK Pipelines' grant on its own artifact bucket",
            "Action::s3:List*": "CDK Pipelines' grant on its own artifact bucket",
            "Action::kms:GenerateDataKey*": "CDK Pipelines' grant on its own artifacts key",
            "Action::kms:ReEncrypt*": "CDK Pipelines' grant on its own artifacts key",
            "Resource::*": "self-mutation reads stack status (cloudformation:DescribeStacks) and lists "
            "buckets, which have no narrower resource before the stacks exist",
            f"Resource::arn:*:iam::{self.account}:role/*": "self-mutation assumes the CDK bootstrap roles, "
            "restricted by CDK to roles tagged aws-cdk:bootstrap-role",
            f"Resource::arn:aws:logs:{self.region}:{self.account}:log-group:/aws/codebuild/*": (
                "self-mutation's CodeBuild project writes its own logs; CDK names them after the project"
            ),
            f"Resource::arn:aws:codebuild:{self.region}:{self.account}:report-group/*": (
                "self-mutation's CodeBuild project writes its own test reports"
            ),
        }
        bucket = self.pipeline.pipeline.artifact_bucket
        reasons[f"Resource::<{self.get_logical_id(cloudformation_resource(bucket))}.Arn>/*"] = (
            "objects of the pipeline's own artifact bucket"
        )
        for project in self.node.find_all():
            if isinstance(project, codebuild.CfnProject):
                ref = f"<{self.get_logical_id(project)}>"
                reasons[
                    f"Resource::arn:aws:logs:{self.region}:{self.account}:log-group:/aws/codebuild/{ref}:*"
                ] = "the build project's own log group"
                reasons[f"Resource::arn:aws:codebuild:{self.region}:{self.account}:report-group/{ref}-*"] = (
                    "the build project's own report groups"
                )
        for finding, reason in reasons.items():
            # On the stack: CDK Pipelines puts the build projects under the underlying pipeline.
            acknowledge(self, f"AwsSolutions::AwsSolutions-IAM5[{finding}]", reason)

    def _skip_asset_role_findings(self) -> None:
        """CDK Pipelines' asset-publishing role: the policy it writes lets the role start and read its
        own CodeBuild builds on `*` (CodeBuild's batch calls take the project, CDK does not narrow it)."""
        file_role = self.pipeline.node.find_child("Assets").node.find_child("FileRole")
        skip_checkov(
            file_role.node.find_child("DefaultPolicy"),
            "CKV_AWS_111",
            "CDK Pipelines' own policy for its asset-publishing role (codebuild:StartBuild, StopBuild, "
            "BatchGetBuilds on *); the role is assumable only by the pipeline's CodeBuild, and what it "
            "writes is limited by the target accounts' file-publishing bootstrap roles",
        )

    def _doctor(self, source: pipelines.IFileSetProducer, settings: EnvironmentSettings) -> pipelines.Step:
        role_arn = f"arn:{self.partition}:iam::{settings.account}:role/{doctor_role_name(settings.name)}"
        return pipelines.CodeBuildStep(
            f"Doctor-{settings.name}",
            input=source,
            commands=list(DOCTOR_COMMANDS),
            env={"RFT_ENV": settings.name, "RFT_DOCTOR_ROLE_ARN": role_arn, "AWS_REGION": settings.region},
            role_policy_statements=[iam.PolicyStatement(actions=["sts:AssumeRole"], resources=[role_arn])],
        )
