"""The delivery pipeline: settings, stage order, approvals, the post-deploy doctor and its role."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import aws_cdk as cdk
import pytest

from app import PIPELINE_STACK_ID, build_app
from stacks.config import ConfigError, load_environments, load_pipeline
from stacks.constructs.doctor_role import doctor_role_name
from stacks.pipeline_stack import DOCTOR_COMMANDS, SYNTH_COMMANDS
from tests.infra.helpers import cdk_context

PIPELINE = {
    "account": "111111111111",
    "region": "us-west-2",
    "connection_arn": "arn:aws:codeconnections:us-west-2:111111111111:connection/0a1b2c3d-example",
    "repository": "example-org/rft-stack",
    "branch": "main",
    "stages": ["staging", "prod"],
    "approval_before": ["prod"],
}
ACCOUNTS = {"staging": "222222222222", "prod": "333333333333"}


def environments_with_accounts() -> dict:
    environments = cdk_context()["environments"]
    for name, account in ACCOUNTS.items():
        environments[name]["account"] = account
    return environments


def pipeline_app(outdir: Path | None = None, **context) -> cdk.App:
    return cdk.App(
        outdir=str(outdir) if outdir else None,
        context={
            **cdk_context(),
            "environments": environments_with_accounts(),
            "pipeline": PIPELINE,
            "aws:cdk:bundling-stacks": [],
            **context,
        },
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"branchh": "main"}, r"setting 'pipeline.branchh': unknown setting"),
        ({"account": 111111111111}, r"setting 'pipeline.account': must be str"),
        (
            {"stages": ["staging", "qa"]},
            r"'pipeline.stages\[1\]': unknown environment 'qa'; cdk.json defines",
        ),
        ({"stages": ["staging", "staging"]}, r"'pipeline.stages': must list environments, each once"),
        (
            {"approval_before": ["prod"], "stages": ["staging"]},
            r"'pipeline.approval_before\[0\]': 'prod' is not",
        ),
        ({"connection_arn": "arn:aws:s3:::bucket"}, r"'pipeline.connection_arn': must be a CodeConnections"),
        ({"repository": "rft-stack"}, r"'pipeline.repository': must be 'owner/name'"),
        ({"region": "us-west-2\n"}, r"'pipeline.region': must be an AWS region"),
    ],
)
def test_pipeline_settings_are_validated_and_named(change, message):
    with pytest.raises(ConfigError, match=message):
        load_pipeline({**PIPELINE, **change}, load_environments(environments_with_accounts()))


def test_pipeline_needs_an_account_for_every_environment_it_deploys():
    environments = cdk_context()["environments"]  # no accounts in cdk.json
    with pytest.raises(ConfigError, match=r"environment 'staging', setting 'account': must be set"):
        load_pipeline(PIPELINE, load_environments(environments))


def test_pipeline_absent_leaves_synth_unchanged():
    app = cdk.App(context={**cdk_context(), "aws:cdk:bundling-stacks": []})
    stages = build_app(app)
    assert app.node.try_find_child(PIPELINE_STACK_ID) is None
    assert all(stage.node.scope is app for stage in stages.values())


def test_pipeline_env_context_still_builds_one_stage_by_hand():
    app = pipeline_app(env="staging")
    stages = build_app(app)
    assert app.node.try_find_child(PIPELINE_STACK_ID) is None
    assert list(stages) == ["staging"] and stages["staging"].node.scope is app


def test_pipeline_environments_it_does_not_deploy_stay_on_their_own():
    app = pipeline_app(pipeline={**PIPELINE, "stages": ["staging"], "approval_before": []})
    stages = build_app(app)
    assert stages["staging"].node.scope is app.node.find_child(PIPELINE_STACK_ID)
    assert stages["prod"].node.scope is app


@pytest.fixture(scope="module")
def synthesized(tmp_path_factory):
    outdir = tmp_path_factory.mktemp("pipeline")
    app = pipeline_app(outdir)
    build_app(app)
    app.synth()  # raises ValidationFailed on any unacknowledged cdk-nag finding
    return outdir


def resources(template: dict, kind: str) -> dict:
    return {key: r for key, r in template["Resources"].items() if r["Type"] == kind}


@pytest.fixture(scope="module")
def pipeline_template(synthesized):
    return json.loads((synthesized / f"{PIPELINE_STACK_ID}.template.json").read_text())


@pytest.fixture(scope="module")
def stages(pipeline_template):
    (pipeline,) = resources(pipeline_template, "AWS::CodePipeline::Pipeline").values()
    return {stage["Name"]: stage["Actions"] for stage in pipeline["Properties"]["Stages"]}


def test_pipeline_stages_follow_the_configured_order(stages):
    assert list(stages) == ["Source", "Build", "UpdatePipeline", "Assets", "staging", "prod"]
    (source,) = stages["Source"]
    assert source["ActionTypeId"]["Provider"] == "CodeStarSourceConnection"
    assert source["Configuration"]["FullRepositoryId"] == PIPELINE["repository"]
    assert source["Configuration"]["BranchName"] == "main"


def test_pipeline_approval_comes_before_prod_only(stages):
    def manual(actions):
        return [a for a in actions if a["ActionTypeId"]["Category"] == "Approval"]

    assert manual(stages["staging"]) == []
    (approval,) = manual(stages["prod"])
    deploys = [a for a in stages["prod"] if a["ActionTypeId"]["Provider"] == "CloudFormation"]
    assert approval["RunOrder"] < min(a["RunOrder"] for a in deploys)


@pytest.mark.parametrize("environment", ["staging", "prod"])
def test_pipeline_each_environment_deploys_into_its_account_then_runs_the_doctor(
    environment, stages, pipeline_template
):
    actions = stages[environment]
    deploys = [a for a in actions if a["ActionTypeId"]["Provider"] == "CloudFormation"]
    assert deploys and all(
        f":iam::{ACCOUNTS[environment]}:role/" in json.dumps(a["RoleArn"]) for a in deploys
    )
    doctor = max(actions, key=lambda a: a["RunOrder"])
    assert doctor["Name"] == f"Doctor-{environment}"
    assert doctor["RunOrder"] > max(a["RunOrder"] for a in deploys)

    role_arn = f"arn:aws:iam::{ACCOUNTS[environment]}:role/{doctor_role_name(environment)}"
    project_id = doctor["Configuration"]["ProjectName"]["Ref"]
    project = pipeline_template["Resources"][project_id]["Properties"]
    variables = {v["Name"]: v["Value"] for v in project["Environment"]["EnvironmentVariables"]}
    assert variables["RFT_ENV"] == environment
    assert json.dumps(variables["RFT_DOCTOR_ROLE_ARN"]).replace('{"Ref": "AWS::Partition"}', "aws")
    buildspec = json.loads(project["Source"]["BuildSpec"])
    commands = buildspec["phases"]["build"]["commands"]
    assert commands == list(DOCTOR_COMMANDS)

    role_id = project["ServiceRole"]["Fn::GetAtt"][0]
    policies = [
        p
        for p in resources(pipeline_template, "AWS::IAM::Policy").values()
        if {"Ref": role_id} in p["Properties"]["Roles"]
    ]
    assume = [
        s
        for p in policies
        for s in p["Properties"]["PolicyDocument"]["Statement"]
        if s["Action"] == "sts:AssumeRole"
    ]
    assert len(assume) == 1
    assert role_arn.split(":iam:")[1] in json.dumps(assume[0]["Resource"])


def test_pipeline_synth_step_runs_the_readme_commands(stages, pipeline_template):
    (synth,) = stages["Build"]
    project = pipeline_template["Resources"][synth["Configuration"]["ProjectName"]["Ref"]]["Properties"]
    commands = json.loads(project["Source"]["BuildSpec"])["phases"]["build"]["commands"]
    assert commands == list(SYNTH_COMMANDS)


@pytest.mark.parametrize("environment", ["staging", "prod"])
def test_pipeline_doctor_role_trusts_only_the_pipeline_account(environment, synthesized):
    (path,) = (synthesized / f"assembly-{PIPELINE_STACK_ID}-{environment}").glob("*Operations*.template.json")
    template = json.loads(path.read_text())
    roles = [r for r in resources(template, "AWS::IAM::Role").values() if r["Properties"].get("RoleName")]
    (role,) = [r for r in roles if r["Properties"]["RoleName"] == doctor_role_name(environment)]
    (statement,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert statement["Principal"] == {"AWS": f"arn:aws:iam::{PIPELINE['account']}:root"}
    actions = {
        action
        for policy in resources(template, "AWS::IAM::Policy").values()
        for s in policy["Properties"]["PolicyDocument"]["Statement"]
        for action in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
    }
    assert {"lambda:InvokeFunction", "states:StartExecution", "execute-api:Invoke"} <= actions
    # The validate-only canary: its dataset is written under doctor/ of the datasets bucket only.
    (canary,) = [
        s
        for policy in resources(template, "AWS::IAM::Policy").values()
        for s in policy["Properties"]["PolicyDocument"]["Statement"]
        if s.get("Sid") == "CanaryDataset"
    ]
    assert canary["Action"] == "s3:PutObject"
    assert json.dumps(canary["Resource"]).endswith('"/doctor/*"]]}')


# Each action the doctor role grants, and the call in the doctor's code (rft/doctor.py, and
# rft/environment.py for the stack outputs) that needs it: a grant nothing calls is one to remove.
DOCTOR_NEEDS = {
    "cloudformation:DescribeStacks": ".describe_stacks(",
    "lambda:InvokeFunction": ".invoke(",
    "states:StartExecution": ".start_execution(",
    "states:DescribeExecution": ".describe_execution(",
    "sns:ListSubscriptionsByTopic": '"list_subscriptions_by_topic"',
    "cloudwatch:DescribeAlarms": "describe_alarms",
    "budgets:ViewBudget": ".describe_budget(",
    "s3:PutObject": ".put_object(",
    "kms:GenerateDataKey": ".put_object(",  # the canary's SSE-KMS upload
    "execute-api:Invoke": "signed_openai_client",  # signed GET /v1/models
}


def test_doctor_role_grants_only_what_the_doctor_calls(synthesized):
    (path,) = (synthesized / f"assembly-{PIPELINE_STACK_ID}-staging").glob("*Operations*.template.json")
    template = json.loads(path.read_text())
    (role_id,) = [
        logical
        for logical, r in resources(template, "AWS::IAM::Role").items()
        if r["Properties"].get("RoleName") == doctor_role_name("staging")
    ]
    granted = {
        action
        for policy in resources(template, "AWS::IAM::Policy").values()
        if {"Ref": role_id} in policy["Properties"]["Roles"]
        for s in policy["Properties"]["PolicyDocument"]["Statement"]
        for action in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
    }
    assert granted == set(DOCTOR_NEEDS)
    root = Path(__file__).resolve().parents[2]
    code = "".join((root / "rft" / f).read_text(encoding="utf-8") for f in ("doctor.py", "environment.py"))
    assert [action for action, call in DOCTOR_NEEDS.items() if call not in code] == []


def test_doctor_every_stack_carries_the_same_version_output(synthesized):
    from rft.names import VERSION_OUTPUT
    from stacks.version import source_version

    paths = list((synthesized / f"assembly-{PIPELINE_STACK_ID}-staging").glob("*.template.json"))
    assert len(paths) == 5
    for path in paths:
        outputs = json.loads(path.read_text())["Outputs"]
        assert outputs[VERSION_OUTPUT]["Value"] == source_version(), path.name


# E3703 checks a CloudFormation deploy action's RoleArn with the IAM role ARN format; cfn-lint 1.58
# re-labels every finding of that nested check as E3703, including the informational I1022 ("Prefer
# using Fn::Sub over Fn::Join") about how CDK Pipelines spells the target account's bootstrap role
# ARN (an Fn::Join over AWS::Partition, CDK's own rendering). That one message is CDK's style, not a
# defect of ours or of the ARN; every other E3703 (a bad ARN, a TemplatePath naming an artifact the
# action does not take) still fails.
CDK_JOIN_STYLE = ("E3703", "Prefer using Fn::Sub over Fn::Join with an empty delimiter")


def test_pipeline_templates_pass_cfn_lint(synthesized):
    templates = [str(synthesized / f"{PIPELINE_STACK_ID}.template.json")]
    templates += [str(p) for p in synthesized.glob(f"assembly-{PIPELINE_STACK_ID}-*/*.template.json")]
    result = subprocess.run(
        [str(Path(sys.executable).with_name("cfn-lint")), *templates, "--format", "json"],
        capture_output=True,
        text=True,
        check=False,
    )
    errors = [m for m in json.loads(result.stdout) if m["Level"] == "Error"]
    assert errors, "CDK Pipelines' deploy actions are expected to carry their Fn::Join role ARNs"
    real = [m for m in errors if (m["Rule"]["Id"], m["Message"]) != CDK_JOIN_STYLE]
    assert real == [], json.dumps(real[:5], indent=1)


def test_pipeline_template_passes_checkov(synthesized):
    """The pipeline stack's own template (its stages' stacks are the environments' stacks, which
    `make checkov` checks): every finding fixed or skipped with its reason (stacks/security.py)."""
    checkov = Path(__file__).resolve().parents[2] / ".venv-checkov" / "bin" / "checkov"
    assert checkov.exists(), "checkov is installed by `make install` into .venv-checkov"
    result = subprocess.run(
        [
            str(checkov),
            *("--file", str(synthesized / f"{PIPELINE_STACK_ID}.template.json")),
            *("--framework", "cloudformation", "--compact", "--quiet", "--skip-download"),
            *("--download-external-modules", "false", "--output", "json"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    summary = json.loads(result.stdout)["summary"]
    assert summary["passed"] > 100 and summary["failed"] == 0, result.stdout[-3000:]
