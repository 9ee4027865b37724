"""`rft train reproduce NAME --from-env staging --env prod` through the real command: staging is the
`deployed` fixture, prod a second deployment beside it whose grader is a real (moto) Lambda
function behind its `live` alias, so the code hash compared is the one Lambda reports."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from typing import Any

import pytest

from rft import recipes
from rft.records import ModelRecord
from tests.cli.conftest import ENV, REGION, ROLE, Deployed, _stack, rft_records, workflow_definition

BASE = "openai.gpt-oss-20b"
KEY = "gsm8k/train.jsonl"
BODY = "".join(json.dumps(record) + "\n" for record in rft_records(120)).encode()
SHA = hashlib.sha256(BODY).hexdigest()
STAGING_CODE = "c3RhZ2luZy1ncmFkZXItY29kZQ=="  # base64, as Lambda's CodeSha256


def _grader_package(text: str) -> bytes:
    package = io.BytesIO()
    with zipfile.ZipFile(package, "w") as archive:
        archive.writestr("handler.py", text)
    return package.getvalue()


@pytest.fixture
def prod(deployed: Deployed) -> dict[str, Any]:
    """Prod's stacks, datasets bucket, workflow and `math_answer` grader (a published version
    behind `live`); returns what a test compares with."""
    lambda_client = deployed.client("lambda")
    role = deployed.client("iam").create_role(RoleName="grader", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    lambda_client.create_function(
        FunctionName="prod-math",
        Runtime="python3.12",
        Role=role,
        Handler="handler.handler",
        Code={"ZipFile": _grader_package("def handler(event, context):\n    return []\n")},
    )
    version = lambda_client.publish_version(FunctionName="prod-math")["Version"]
    alias = lambda_client.create_alias(FunctionName="prod-math", Name="live", FunctionVersion=version)[
        "AliasArn"
    ]
    deployed.client("s3").create_bucket(
        Bucket="prod-datasets", CreateBucketConfiguration={"LocationConstraint": REGION}
    )
    machine = deployed.client("stepfunctions").create_state_machine(
        name="prod-TrainingWorkflow", definition=json.dumps(workflow_definition()), roleArn=ROLE
    )["stateMachineArn"]
    cloudformation = deployed.client("cloudformation")
    _stack(
        cloudformation, "prod-Data", {"DatasetsBucketName": "prod-datasets", "DataKeyArn": deployed.key_arn}
    )
    _stack(cloudformation, "prod-Rewards", {"GraderAliasArns": json.dumps({"math_answer": alias})})
    _stack(
        cloudformation, "prod-Training", {"StateMachineArn": machine, "NotificationTopicArn": "arn:aws:sns:x"}
    )
    code = lambda_client.get_function_configuration(FunctionName=alias)["CodeSha256"]
    return {"machine": machine, "code": code, "alias": alias}


def recorded(deployed: Deployed, *, code: str, sha256: str = SHA) -> None:
    """A finished staging run whose record pins its recipe, and its dataset in staging's bucket."""
    deployed.client("s3").put_object(Bucket=deployed.datasets_bucket, Key=KEY, Body=BODY)
    uri = f"s3://{deployed.datasets_bucket}/{KEY}"
    recipe = {
        "plane": "mantle",
        "base_model": BASE,
        "region": REGION,
        "rft_stack_version": "0.1.0+abc",
        "datasets": {"training_data": {"uri": uri, "sha256": sha256, "lines": 120, "bytes": len(BODY)}},
        "grader": {
            "name": "math_answer",
            "arn": "arn:staging-math:live",
            "version": "7",
            "code_sha256": code,
        },
        "hyperparameters": {"epochCount": 2},
        "request": {"name": "gsm8k-v1", "base_model": BASE, "training_data": uri, "reward": "math_answer"},
        "reproduced_from": None,
    }
    deployed.registry().put_model(
        ModelRecord(
            name="gsm8k-v1", environment=ENV, provider="mantle", region=REGION, model_id="ft:gsm8k-v1",
            base_model=BASE, reward="math_answer", job_id="ftjob-1", recipe=recipe,
        )
    )  # fmt: skip


def executions(deployed: Deployed, machine: str) -> list[dict[str, Any]]:
    sfn = deployed.client("stepfunctions")
    return [
        sfn.describe_execution(executionArn=e["executionArn"])
        for e in sfn.list_executions(stateMachineArn=machine)["executions"]
    ]


def reproduce(rft: Any, *extra: str) -> Any:
    return rft("train", "reproduce", "gsm8k-v1", "--from-env", ENV, "--env", "prod", *extra)


def test_reproduce_cli_refuses_another_grader_naming_both_hashes(rft, deployed, prod) -> None:
    recorded(deployed, code=STAGING_CODE)

    refused = reproduce(rft)

    assert refused.exit_code == 2
    message = " ".join(refused.stderr.split())
    assert recipes.code_sha256_hex(STAGING_CODE) in message
    assert recipes.code_sha256_hex(prod["code"]) in message and "--allow-grader-change" in message
    assert "Contents" not in deployed.client("s3").list_objects_v2(Bucket="prod-datasets")  # nothing copied
    assert executions(deployed, prod["machine"]) == []  # nothing started


def test_reproduce_cli_allow_grader_change_copies_the_data_and_starts_the_run(rft, deployed, prod) -> None:
    recorded(deployed, code=STAGING_CODE)

    started = reproduce(rft, "--allow-grader-change", "--name", "gsm8k-v1-prod", "--json")

    assert started.exit_code == 0, started.stderr
    assert "runs other code than the recorded run" in started.stderr
    answer = started.json()
    assert answer["grader_changed"] is True and answer["reproduced_from"] == "staging/gsm8k-v1"
    assert answer["copied"] == [f"s3://prod-datasets/{KEY}"]
    copy = deployed.client("s3").get_object(Bucket="prod-datasets", Key=KEY)
    assert hashlib.sha256(copy["Body"].read()).hexdigest() == SHA and copy["Metadata"]["sha256"] == SHA
    (execution,) = executions(deployed, prod["machine"])
    request = json.loads(execution["input"])
    assert execution["name"] == "gsm8k-v1-prod" and request["reproduced_from"] == "staging/gsm8k-v1"
    assert request["training_data"] == f"s3://prod-datasets/{KEY}" and request["base_model"] == BASE


def test_reproduce_cli_same_grader_starts_and_a_second_run_reuses_the_verified_copy(
    rft, deployed, prod
) -> None:
    recorded(deployed, code=prod["code"])

    first = reproduce(rft, "--name", "gsm8k-v1-a")
    assert first.exit_code == 0, first.stderr
    assert f"Copied s3://prod-datasets/{KEY} (sha256 verified)." in first.stderr
    assert "Started run 'gsm8k-v1-a' in environment 'prod', reproducing staging/gsm8k-v1." in first.stderr

    second = reproduce(rft, "--name", "gsm8k-v1-b", "--json")
    assert second.exit_code == 0, second.stderr
    assert second.json()["copied"] == [] and second.json()["reused"] == [f"s3://prod-datasets/{KEY}"]
    assert sorted(e["name"] for e in executions(deployed, prod["machine"])) == ["gsm8k-v1-a", "gsm8k-v1-b"]


def test_reproduce_cli_refuses_source_data_that_changed_since_the_run(rft, deployed, prod) -> None:
    recorded(deployed, code=prod["code"], sha256="0" * 64)

    refused = reproduce(rft)

    assert refused.exit_code == 2
    assert "now has sha256" in refused.stderr and "the source data changed" in " ".join(
        refused.stderr.split()
    )
    assert executions(deployed, prod["machine"]) == []
