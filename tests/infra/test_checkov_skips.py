"""checkov's skips: written the way checkov reads them, each with a reason, and only where true.

`make checkov` runs checkov over every synthesized stage; these tests check the mechanism (a skip
this project writes is one checkov honours, and only for its one check) and the facts the
reasons claim (no environment variable holds a secret).
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_logs as logs

from stacks.security import skip_checkov
from tests.infra.helpers import REPO_ROOT, all_resources, configured_stage, new_app, template

CHECKOV = REPO_ROOT / ".venv-checkov" / "bin" / "checkov"
SECRET_LIKE = re.compile(r"SECRET|PASSWORD|PASSWD|TOKEN|PRIVATE|CREDENTIAL|API_?KEY|AUTH", re.IGNORECASE)


@pytest.mark.parametrize("name", ["staging", "prod"])
def test_every_skip_names_one_check_with_a_reason(name):
    skips = 0
    for key, resource in all_resources(configured_stage(name)).items():
        for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", []):
            skips += 1
            assert set(skip) == {"id", "comment"}, key
            assert re.fullmatch(r"CKV2?_AWS_\d+", skip["id"]), key
            assert len(skip["comment"]) >= 40, f"{key} {skip['id']}: say why, specifically"
    assert skips > 0


@pytest.mark.parametrize("name", ["staging", "prod"])
def test_no_function_environment_holds_a_secret(name):
    """The CKV_AWS_173 skips say the environments hold no secret: keep that true."""
    for key, resource in all_resources(configured_stage(name)).items():
        if resource["Type"] != "AWS::Lambda::Function":
            continue
        variables = resource["Properties"].get("Environment", {}).get("Variables", {})
        for variable, value in variables.items():
            assert not SECRET_LIKE.search(variable), f"{key}: {variable}"
            assert not (isinstance(value, str) and SECRET_LIKE.search(value)), f"{key}: {variable}={value}"
        skipped = {s["id"] for s in resource.get("Metadata", {}).get("checkov", {}).get("skip", [])}
        assert ("CKV_AWS_173" in skipped) is bool(variables), key


def test_a_repeated_skip_replaces_its_reason_and_other_skips_stay():
    stack = cdk.Stack(new_app(), "Skips")
    group = logs.LogGroup(stack, "Logs")
    skip_checkov(group, "CKV_AWS_158", "first reason, long enough to be a reason at all")
    skip_checkov(group, "CKV_AWS_66", "another check's reason, long enough to be a reason")
    skip_checkov(group, "CKV_AWS_158", "second reason, long enough to be a reason at all")
    (resource,) = template(stack).to_json()["Resources"].values()
    assert resource["Metadata"]["checkov"]["skip"] == [
        {"id": "CKV_AWS_66", "comment": "another check's reason, long enough to be a reason"},
        {"id": "CKV_AWS_158", "comment": "second reason, long enough to be a reason at all"},
    ]


@pytest.mark.parametrize(
    ("check", "reason"), [("CKV_AWS_", "why"), ("AwsSolutions-L1", "why"), ("CKV_AWS_1", " ")]
)
def test_a_skip_needs_a_checkov_id_and_a_reason(check, reason):
    stack = cdk.Stack(new_app(), "Skips")
    with pytest.raises(ValueError, match=r"checkov|reason"):
        skip_checkov(logs.LogGroup(stack, "Logs"), check, reason)


def _checkov(directory: Path, check: str) -> dict[str, Any]:
    if not CHECKOV.exists():
        pytest.fail("checkov is not installed: run `make install` (it gets .venv-checkov)")
    completed = subprocess.run(
        [
            str(CHECKOV),
            "--directory",
            str(directory),
            "--framework",
            "cloudformation",
            "--check",
            check,
            "--output",
            "json",
            "--skip-download",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    report = json.loads(completed.stdout) if completed.stdout.strip() else {}
    return {"exit": completed.returncode, **report.get("results", {})}


def _synth_log_group(outdir: Path, *, skipped: bool) -> Path:
    app = cdk.App(outdir=str(outdir))
    stack = cdk.Stack(app, "Gate")
    group = logs.LogGroup(stack, "Logs")  # not encrypted with a KMS key: CKV_AWS_158 fails
    if skipped:
        skip_checkov(group, "CKV_AWS_158", "a reason long enough to pass the reason test here")
    app.synth()
    return outdir


@pytest.mark.slow
def test_checkov_fails_on_a_finding_and_honours_this_projects_skip(tmp_path):
    failing = _checkov(_synth_log_group(tmp_path / "plain", skipped=False), "CKV_AWS_158")
    assert failing["exit"] != 0
    assert [c["check_id"] for c in failing["failed_checks"]] == ["CKV_AWS_158"]
    skipped = _checkov(_synth_log_group(tmp_path / "skipped", skipped=True), "CKV_AWS_158")
    assert skipped["exit"] == 0
    assert [c["check_id"] for c in skipped["skipped_checks"]] == ["CKV_AWS_158"]
    assert not skipped["failed_checks"]
