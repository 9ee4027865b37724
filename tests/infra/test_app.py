import aws_cdk as cdk
import pytest
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3

from app import build_app
from stacks.config import ConfigError
from tests.infra.helpers import new_app


def test_without_env_every_stage_is_built_and_passes_the_security_gate():
    app = new_app()
    stages = build_app(app)
    assert set(stages) == {"staging", "prod"}
    assembly = app.synth()  # raises ValidationFailed on any unacknowledged cdk-nag finding
    assert {a.display_name for a in assembly.nested_assemblies} == {"staging", "prod"}


def test_env_context_builds_only_that_stage():
    app = new_app(env="staging")
    assert set(build_app(app)) == {"staging"}


def test_unknown_env_is_a_clear_error():
    with pytest.raises(
        ConfigError, match=r"setting 'env': unknown environment; cdk\.json defines: staging, prod"
    ):
        build_app(new_app(env="qa"))


def test_a_broken_setting_in_cdk_json_fails_synth_with_the_setting_named():
    app = new_app()
    app.node.set_context("environments", {"staging": {"region": "us-west-2", "notification_emails": [""]}})
    with pytest.raises(ConfigError, match=r"environment 'staging', setting 'notification_emails\[0\]'"):
        build_app(app)


def test_the_security_gate_catches_an_insecure_bucket():
    app = new_app(env="staging")
    stage = build_app(app)["staging"]
    throwaway = cdk.Stack(stage, "Throwaway")
    s3.Bucket(throwaway, "Insecure")
    with pytest.raises(RuntimeError, match="ValidationFailed"):
        app.synth()


def test_the_security_gate_catches_a_wildcard_policy():
    app = new_app(env="staging")
    stage = build_app(app)["staging"]
    throwaway = cdk.Stack(stage, "Throwaway")
    role = iam.Role(throwaway, "Role", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
    role.add_to_policy(iam.PolicyStatement(actions=["s3:*"], resources=["*"]))
    with pytest.raises(RuntimeError, match="ValidationFailed"):
        app.synth()
