"""Every error a user meets: one sentence on stderr, exit code 2, never a traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from unittest import mock

import pytest

from rft.cli import errors
from rft.environment import Environment, connect, resolve_region
from rft.errors import RftError
from tests.cli.conftest import rft_records, write_jsonl

REPO = Path(__file__).resolve().parents[2]


def _one_sentence(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    assert lines[0].startswith("Error: ")
    return lines[0]


def test_missing_credentials(tmp_path: Path) -> None:
    """A real process with no credentials anywhere (and no instance metadata to ask)."""
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "AWS_CONFIG_FILE": str(tmp_path / "none"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_REGION": "us-west-2",
    }
    completed = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from rft.cli.main import main; sys.exit(main())",
            "models",
            "list",
        ],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert completed.returncode == 2
    sentence = _one_sentence(completed.stderr)
    assert "No AWS credentials were found" in sentence


def _no_region(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("AWS_REGION")
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))


def _outside_a_checkout(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr("rft.locate.PACKAGE_CHECKOUT", None)
    monkeypatch.chdir(tmp_path)


def test_in_a_checkout_the_region_comes_from_cdk_json(rft, deployed, monkeypatch, tmp_path: Path) -> None:
    _no_region(monkeypatch, tmp_path)
    outcome = rft("models", "list", "--env", "staging")
    assert outcome.exit_code == 0, outcome.stderr  # cdk.json: staging is in us-west-2


def test_an_environment_cdk_json_does_not_define_names_those_it_does(rft, deployed) -> None:
    outcome = rft("models", "list", "--env", "dev")
    assert outcome.exit_code == 2
    sentence = _one_sentence(outcome.stderr)
    assert "No environment 'dev' in" in sentence and "cdk.json" in sentence
    assert "it defines 'prod' and 'staging'" in sentence


def test_a_pinned_account_must_match_the_credentials(rft, deployed, monkeypatch, tmp_path: Path) -> None:
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    settings = {"staging": {"region": "us-west-2", "account": "111111111111"}}
    (checkout / "cdk.json").write_text(json.dumps({"context": {"environments": settings}}))
    monkeypatch.chdir(checkout)
    outcome = rft("models", "list")
    assert outcome.exit_code == 2
    sentence = _one_sentence(outcome.stderr)
    assert "is in account 111111111111, but your credentials are for account 123456789012" in sentence


def test_outside_a_checkout_the_deployed_stacks_say_where(rft, deployed, monkeypatch, tmp_path: Path) -> None:
    _no_region(monkeypatch, tmp_path)
    _outside_a_checkout(monkeypatch, tmp_path)
    outcome = rft("models", "list", "--env", "staging")
    assert outcome.exit_code == 0, outcome.stderr
    remembered = json.loads((tmp_path / "config" / "rft" / "environments.json").read_text())
    assert remembered["123456789012/staging"]["region"] == "us-west-2"
    # The next command does not search again.
    with mock.patch("rft.locate.search_regions", side_effect=AssertionError("searched again")):
        assert rft("models", "list", "--env", "staging").exit_code == 0


def test_outside_a_checkout_an_environment_found_nowhere(rft, deployed, monkeypatch, tmp_path: Path) -> None:
    _no_region(monkeypatch, tmp_path)
    _outside_a_checkout(monkeypatch, tmp_path)
    outcome = rft("models", "list", "--env", "dev")
    assert outcome.exit_code == 2
    assert "Environment 'dev' was not found" in _one_sentence(outcome.stderr)


def test_no_region_outside_a_checkout_with_a_region_set_elsewhere(
    rft, deployed, monkeypatch, tmp_path: Path
) -> None:
    _outside_a_checkout(monkeypatch, tmp_path)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    outcome = rft("models", "list", "--env", "prod")
    assert outcome.exit_code == 2
    sentence = _one_sentence(outcome.stderr)
    assert "Environment 'prod' is not deployed in us-west-2" in sentence
    assert "deployed in us-west-2: 'staging'" in sentence  # what is there instead


def test_wrong_region_says_where_it_looked(rft, deployed) -> None:
    outcome = rft("models", "list", "--region", "eu-west-1")
    assert outcome.exit_code == 2
    sentence = _one_sentence(outcome.stderr)
    assert "Environment 'staging' is not deployed in eu-west-1" in sentence
    assert "--region" in sentence


def test_not_a_region(rft, deployed) -> None:
    outcome = rft("train", "list", "--region", "uswest2")
    assert outcome.exit_code == 2
    assert "'uswest2' is not an AWS region" in _one_sentence(outcome.stderr)


def test_environment_not_deployed(rft, deployed) -> None:
    outcome = rft("train", "list", "--env", "prod")
    assert outcome.exit_code == 2
    sentence = _one_sentence(outcome.stderr)
    assert (
        "Environment 'prod' is not deployed in us-west-2 (stack prod-Data does not exist there;" in sentence
    )
    assert "make deploy ENV=prod" in sentence


def test_partially_deployed_environment_names_the_missing_output(rft, deployed) -> None:
    deployed.client("cloudformation").delete_stack(StackName="staging-Training")
    cloudformation = deployed.client("cloudformation")
    cloudformation.create_stack(
        StackName="staging-Training",
        TemplateBody=json.dumps(
            {"Resources": {"M": {"Type": "AWS::SNS::Topic"}}, "Outputs": {"Other": {"Value": "x"}}}
        ),
    )
    outcome = rft("train", "list")
    assert outcome.exit_code == 2
    assert "has no output 'StateMachineArn'" in _one_sentence(outcome.stderr)


def test_unknown_model(rft, deployed, fake_openai) -> None:
    outcome = rft("chat", "no-such-model", "hello")
    assert outcome.exit_code == 2
    sentence = _one_sentence(outcome.stderr)
    assert (
        "No model or alias named 'no-such-model' in environment 'staging'; models: none; aliases: none"
        in sentence
    )
    assert "openai.gpt-oss-20b" in sentence  # the base models it could have meant


def test_a_run_name_that_already_ran(rft, deployed, tmp_path: Path) -> None:
    path = tmp_path / "train.jsonl"
    write_jsonl(path, rft_records(100))
    args = ["train", "start", "--name", "run-1", "--base-model", "openai.gpt-oss-20b", "--data", str(path)]
    first = rft(*args, "--reward", "math_answer")
    assert first.exit_code == 0, first.stderr
    deployed.wait_for("run-1")
    again = rft(*args, "--reward", "math_answer")
    assert again.exit_code == 1  # the request checked is bad
    sentence = _one_sentence(again.stderr)
    assert "A run named 'run-1' already ran (SUCCEEDED" in sentence
    assert "choose another --name" in sentence


def test_usage_errors_exit_2(rft) -> None:
    outcome = rft("train", "start", "--name", "x")
    assert outcome.exit_code == 2
    assert "Missing option" in outcome.stderr


def test_a_bug_is_one_sentence_with_exit_3(rft, deployed, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args, **kwargs):
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr("rft.cli.models.ModelRegistry.list_models", broken)
    outcome = rft("models", "list")
    assert outcome.exit_code == errors.EXIT_BUG
    assert "RFT_DEBUG=1" in _one_sentence(outcome.stderr)


def test_main_returns_exit_codes_instead_of_raising(deployed, capsys) -> None:
    from rft.cli.main import main

    assert main(["train", "list", "--env", "prod"]) == 2
    assert main(["--help"]) == 0
    assert main(["train", "nope"]) == 2
    assert "No such command" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("ExpiredTokenException", "Your AWS credentials have expired"),
        ("UnrecognizedClientException", "AWS refused your credentials for DescribeStacks"),
        ("AccessDeniedException", "Access denied to DescribeStacks: no"),
        ("ThrottlingException", "AWS is throttling DescribeStacks"),
        ("SomethingElse", "AWS DescribeStacks failed (SomethingElse): no"),
    ],
)
def test_client_errors_become_sentences(code: str, expected: str) -> None:
    from botocore.exceptions import ClientError

    error = ClientError({"Error": {"Code": code, "Message": "no"}}, "DescribeStacks")
    sentence, exit_code = errors.describe(error)
    assert sentence.startswith(expected) and sentence.endswith(".")
    assert exit_code == 2


def test_rft_errors_and_unknown_exceptions() -> None:
    assert errors.describe(RftError("Bad thing")) == ("Bad thing.", 2)
    assert errors.describe(ValueError("x")) is None


def test_region_resolution_order(monkeypatch: pytest.MonkeyPatch) -> None:
    class Session:
        region_name = "eu-central-1"

    monkeypatch.setenv("AWS_REGION", "us-east-1")
    assert resolve_region("us-west-2", Session()) == "us-west-2"
    assert resolve_region(None, Session()) == "us-east-1"
    monkeypatch.delenv("AWS_REGION")
    assert resolve_region(None, Session()) == "eu-central-1"


def test_connect_checks_the_environment_name() -> None:
    with pytest.raises(RftError, match="is not an environment name"):
        connect("Prod!", region="us-west-2")


def test_environment_reads_each_stack_once(deployed) -> None:
    environment = connect("staging")
    assert isinstance(environment, Environment)
    calls = []
    cloudformation = environment.client("cloudformation")
    original = cloudformation.describe_stacks
    cloudformation.describe_stacks = lambda **kw: calls.append(kw) or original(**kw)
    assert environment.datasets_bucket == deployed.datasets_bucket
    assert environment.artifacts_bucket == deployed.artifacts_bucket
    assert environment.data_key_arn == deployed.key_arn
    assert environment.graders()["math_answer"].endswith(":live")
    assert environment.gateway_url == deployed.gateway_url
    assert [c["StackName"] for c in calls] == ["staging-Data", "staging-Rewards", "staging-Serving"]


def test_every_command_checks_the_environment_exists_first(rft, deployed) -> None:
    # `models history` reads only SSM: without the check, a wrong region would answer "never set".
    outcome = rft("models", "history", "prod", "--region", "eu-west-1")
    assert outcome.exit_code == 2
    assert "not deployed in eu-west-1" in _one_sentence(outcome.stderr)
