"""Local bundling really runs through jsii (the other infra tests skip bundling)."""

from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_kms as kms

from stacks.constructs.python_function import BundledPythonFunction
from tests.infra.helpers import cdk_context


def test_local_bundling_lays_out_the_sources_like_the_repository(tmp_path):
    app = cdk.App(outdir=str(tmp_path), context={**cdk_context(), "aws:cdk:bundling-stacks": ["**"]})
    stack = cdk.Stack(app, "Bundled")
    BundledPythonFunction(
        stack,
        "CodeTests",
        sources=["lambda_rewards/__init__.py", "lambda_rewards/common", "lambda_rewards/code_tests"],
        handler="lambda_rewards.code_tests.handler.handler",
        requirements="lambda_rewards/code_tests/requirements.txt",  # comments only: no pip run
        log_retention_days=7,
        retain_logs=False,
        log_key=kms.Key(stack, "Key"),
    )
    app.synth()
    (asset,) = [p for p in Path(tmp_path).glob("asset.*") if p.is_dir()]
    assert (asset / "lambda_rewards" / "__init__.py").is_file()
    assert (asset / "lambda_rewards" / "common" / "contract.py").is_file()
    assert (asset / "lambda_rewards" / "code_tests" / "handler.py").is_file()
    assert not list(asset.rglob("__pycache__"))
    assert not (asset / "lambda_rewards" / "math_answer").exists()
