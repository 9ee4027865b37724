"""A Python Lambda function bundled on the build machine, without Docker.

The asset is laid out like the repository (`lambda_rewards/common/...`, `rft/...`), so handlers
use the same absolute imports in Lambda as in the tests. Third-party packages come from a
requirements file and are installed as wheels for the Lambda platform (`pip --platform
manylinux2014_<arch> --only-binary=:all:`), so no compiler and no container are involved.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import aws_cdk as cdk
import jsii
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from stacks.constructs.isolated_network import IsolatedNetwork
from stacks.constructs.log_retention import encrypted_log_group
from stacks.security import acknowledge, cloudformation_resource, environment_holds_no_secret

REPO_ROOT = Path(__file__).resolve().parents[2]
# The newest Python runtime in aws-cdk-lib 2.275 (cdk-nag AwsSolutions-L1 checks this).
RUNTIME = lambda_.Runtime.PYTHON_3_14
ARCHITECTURE = lambda_.Architecture.ARM_64
_PIP_PLATFORM = {"arm64": "manylinux2014_aarch64", "x86_64": "manylinux2014_x86_64"}
XRAY_REASON = (
    "X-Ray active tracing: xray:PutTraceSegments and xray:PutTelemetryRecords accept no "
    "resource-level permissions, so Resource must be '*'"
)
_IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", "tests", ".pytest_cache")
# What a function never runs, left out of the installed packages: their own test suites (sympy's
# and mpmath's are ~37 MB of the math grader), and bytecode compiled for the build machine's Python,
# which the Lambda runtime (another version) ignores.
_THIRD_PARTY_TESTS = "tests"
# Part of every asset hash: changing how assets are made must change their hashes, or CDK would
# keep the functions' old code.
_RECIPE = "pip --no-compile; third-party tests/ pruned"


@jsii.implements(cdk.ILocalBundling)
class _LocalPythonBundling:
    """Copies the source folders and installs wheels for the Lambda platform into the asset."""

    def __init__(self, sources: Sequence[Path], requirements: Path | None, architecture: str) -> None:
        self._sources, self._requirements, self._architecture = sources, requirements, architecture

    # ILocalBundling's signature: jsii passes the BundlingOptions struct as these keywords, since the
    # method has keyword-only parameters (the Docker image is unused: bundling is local).
    def try_bundle(self, output_dir: str, *, image: cdk.DockerImage, **_options: object) -> bool:
        out = Path(output_dir)
        for source in self._sources:
            target = out / source.relative_to(REPO_ROOT)
            if source.is_dir():
                shutil.copytree(source, target, ignore=_IGNORED, dirs_exist_ok=True)
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, target)
        if self._requirements and _has_requirements(self._requirements):
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "pip",
                    "install",
                    "--quiet",
                    "--disable-pip-version-check",
                    "--no-compile",
                    "--platform",
                    _PIP_PLATFORM[self._architecture],
                    "--only-binary=:all:",
                    "--implementation",
                    "cp",
                    "--python-version",
                    RUNTIME.name.removeprefix("python"),
                    "--target",
                    str(out),
                    "--requirement",
                    str(self._requirements),
                ],
                check=True,
            )
            prune_test_suites(out, keep=[out / source.relative_to(REPO_ROOT) for source in self._sources])
        return True


def prune_test_suites(out: Path, *, keep: Sequence[Path] = ()) -> None:
    """Removes the `tests/` folders of installed packages (not those under `keep`: ours, which
    copying already left out)."""
    for folder in sorted(out.rglob(_THIRD_PARTY_TESTS), reverse=True):
        if folder.is_dir() and not any(folder.is_relative_to(k) for k in keep):
            shutil.rmtree(folder)


def _has_requirements(path: Path) -> bool:
    lines = (line.split("#", 1)[0].strip() for line in path.read_text().splitlines())
    return any(lines)


def _content_hash(paths: Sequence[Path], extra: str, root: Path = REPO_ROOT) -> str:
    """A hash of every file that goes into the asset, so unchanged code is not re-uploaded."""
    digest = hashlib.sha256(extra.encode())
    for path in paths:
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for file in files:
            if "__pycache__" in file.parts or file.suffix == ".pyc":
                continue
            digest.update(str(file.relative_to(root)).encode())
            digest.update(file.read_bytes())
    return digest.hexdigest()


class BundledPythonFunction(Construct):
    """A Lambda function from folders of this repository, with its own log group and a role that
    may write to that log group and nothing else (callers grant the rest).

    `sources` are repository paths copied into the asset as they are (packages keep their
    place); `requirements` is a pip requirements file whose packages are installed for the
    Lambda platform. The log group is encrypted with `log_key`; with `network`, the function runs
    in that isolated network.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        sources: Sequence[str],
        handler: str,
        log_retention_days: int,
        retain_logs: bool,
        log_key: kms.IKey,
        requirements: str | None = None,
        description: str | None = None,
        memory_size: int = 512,
        timeout: cdk.Duration | None = None,
        environment: Mapping[str, str] | None = None,
        reserved_concurrent_executions: int | None = None,
        network: IsolatedNetwork | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.sources: tuple[str, ...] = tuple(sources)  # what the asset holds (tests read it)
        source_paths = [REPO_ROOT / s for s in sources]
        missing = [str(p) for p in source_paths if not p.exists()]
        if missing:
            raise ValueError(f"{construct_id}: source paths do not exist: {', '.join(missing)}")
        requirements_path = REPO_ROOT / requirements if requirements else None
        hashed = [*source_paths, *([requirements_path] if requirements_path else [])]
        architecture = ARCHITECTURE.name

        self.log_group = encrypted_log_group(
            self, "Logs", retention=log_retention_days, retain=retain_logs, key=log_key
        )
        self.function = lambda_.Function(
            self,
            "Function",
            runtime=RUNTIME,
            architecture=ARCHITECTURE,
            handler=handler,
            code=lambda_.Code.from_asset(
                str(source_paths[0] if source_paths[0].is_dir() else source_paths[0].parent),
                asset_hash_type=cdk.AssetHashType.CUSTOM,
                asset_hash=_content_hash(hashed, f"{RUNTIME.name}/{architecture}/{_RECIPE}"),
                bundling=cdk.BundlingOptions(
                    image=cdk.DockerImage.from_registry("unused-local-bundling-only"),
                    local=_LocalPythonBundling(source_paths, requirements_path, architecture),
                ),
            ),
            description=description,
            memory_size=memory_size,
            timeout=timeout or cdk.Duration.seconds(60),
            environment=dict(environment or {}),
            reserved_concurrent_executions=reserved_concurrent_executions,
            log_group=self.log_group,
            tracing=lambda_.Tracing.ACTIVE,
            vpc=network.vpc if network else None,
            vpc_subnets=network.subnets if network else None,
            security_groups=[network.security_group] if network else None,
        )
        self.role: iam.IRole = self._own_log_group_role()
        if environment:
            environment_holds_no_secret(self.function, list(environment))
        if network:
            # In place of the managed AWSLambdaVPCAccessExecutionRole, removed with the others above;
            # deployed first, since Lambda attaches the network interfaces when it creates the function.
            cloudformation_resource(self.function).node.add_dependency(network.allow_attaching(self.role))

    def _own_log_group_role(self) -> iam.IRole:
        """Swaps the managed AWSLambdaBasicExecutionRole (writes to every log group, cdk-nag IAM4)
        for writes to this function's own log group."""
        role = self.function.role
        assert role is not None, "a Function without an explicit role always creates one"
        cfn_role = role.node.default_child
        assert isinstance(cfn_role, iam.CfnRole)
        cfn_role.managed_policy_arns = None
        self.log_group.grant_write(role)
        for child in self.function.node.children:
            if isinstance(child, iam.Policy) and child.node.id.startswith("inlinePolicyAddedToExecutionRole"):
                acknowledge(child, "AwsSolutions::AwsSolutions-IAM5[Resource::*]", XRAY_REASON)
        return role
