"""What the training workflow's Lambda steps may do beyond their own logs: the dataset files, the
run files under the artifacts prefix, and the Mantle (OpenAI-compatible) plane. Each grant on a
wildcard carries its cdk-nag acknowledgment, so a step never holds one without the other."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from rft.names import ARTIFACTS_PREFIX
from stacks.constructs.workflow_function import WorkflowFunction
from stacks.security import arn, referenced

# The Mantle plane's IAM actions, as the IAM service reference (cfn-lint's copy) lists them for
# `bedrock-mantle`: the file and fine-tuning actions apply to a `project`
# (`arn:...:bedrock-mantle:<region>:<account>:project/<id>`); job events (the per-step metrics)
# are read under GetFineTuningJob, the reference naming no separate action for them.
MANTLE_JOB_ACTIONS = (
    "bedrock-mantle:CreateFile",
    "bedrock-mantle:CreateFineTuningJob",
    "bedrock-mantle:GetFineTuningJob",
    "bedrock-mantle:ListFineTuningJobs",
    "bedrock-mantle:CancelFineTuningJob",
)
MANTLE_CANCEL_ACTIONS = (
    "bedrock-mantle:GetFineTuningJob",
    "bedrock-mantle:ListFineTuningJobs",
    "bedrock-mantle:CancelFineTuningJob",
)
# Using a short-term Bedrock API key as a bearer token; the action takes no resource.
MANTLE_BEARER_ACTION = "bedrock-mantle:CallWithBearerToken"
MANTLE_PROJECTS_REASON = (
    "Mantle jobs and files live in a Mantle project of this account and region (the default "
    "project unless one is configured), which this stack does not create: its id is not known at synth"
)
MANTLE_BEARER_REASON = (
    "bedrock-mantle:CallWithBearerToken (authenticating with a short-term Bedrock API key made from "
    "this role) accepts no resource-level permissions, so Resource must be '*'"
)


def use_mantle(function: WorkflowFunction, actions: Sequence[str]) -> None:
    """`actions` on the account's Mantle projects, authenticated with a short-term API key."""
    function.allow_wildcard(actions, arn(function, "bedrock-mantle", "project/*"), MANTLE_PROJECTS_REASON)
    function.allow_wildcard([MANTLE_BEARER_ACTION], "*", MANTLE_BEARER_REASON)


@dataclass(frozen=True)
class RunData:
    """The data plane's buckets and key as the training stack refers to them: each ARN with the
    form cdk-nag prints it in (an export of the data stack)."""

    datasets_arn: str
    datasets_nag: str
    artifacts_arn: str
    artifacts_nag: str
    key: kms.IKey

    @classmethod
    def of(
        cls, scope: Construct, *, datasets_bucket: s3.IBucket, artifacts_bucket: s3.IBucket, key: kms.IKey
    ) -> RunData:
        datasets_arn, datasets_nag = referenced(scope, datasets_bucket, datasets_bucket.bucket_arn)
        artifacts_arn, artifacts_nag = referenced(scope, artifacts_bucket, artifacts_bucket.bucket_arn)
        return cls(datasets_arn, datasets_nag, artifacts_arn, artifacts_nag, key)

    @property
    def run_files(self) -> str:
        """Every run's files: `jobs/<run name>/...` in the artifacts bucket."""
        return f"{self.artifacts_arn}/{ARTIFACTS_PREFIX}/*"

    def read_datasets(self, function: WorkflowFunction) -> None:
        function.allow_wildcard(
            ["s3:GetObject"],
            f"{self.datasets_arn}/*",
            "Reads the dataset files a run names; dataset keys are chosen at upload time "
            "(content-hashed), so the datasets bucket's objects are the resource",
            nag_form=f"{self.datasets_nag}/*",
        )
        # Without ListBucket a missing key reads as AccessDenied instead of NoSuchKey.
        function.allow(["s3:ListBucket"], [self.datasets_arn])
        function.allow(["kms:Decrypt"], [self.key.key_arn])

    def use_run_files(self, function: WorkflowFunction, actions: Sequence[str], reason: str) -> None:
        """`actions` on the run files; `reason` says which files the step uses and why run names
        make the wildcard necessary."""
        function.allow_wildcard(
            actions, self.run_files, reason, nag_form=f"{self.artifacts_nag}/{ARTIFACTS_PREFIX}/*"
        )
