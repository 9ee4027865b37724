"""`rft train start | watch | list | stop` against the workflow stand-in executed by moto."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rft import runs
from tests.cli.conftest import ENV, rft_records, workflow_definition, write_jsonl

START = ["train", "start", "--base-model", "openai.gpt-oss-20b", "--reward", "math_answer"]


def _uri(deployed, key: str = "datasets/train-0123.jsonl") -> str:
    body = "".join(json.dumps(r) + "\n" for r in rft_records(100))
    deployed.client("s3").put_object(Bucket=deployed.datasets_bucket, Key=key, Body=body)
    return f"s3://{deployed.datasets_bucket}/{key}"


def _start_direct(deployed, name: str, wait_seconds: int, outcome: str = "succeeded") -> None:
    """A run whose job takes ``wait_seconds`` (the CLI always asks for the default first wait)."""
    deployed.set_workflow(
        workflow_definition(outcome=outcome, wait_seconds=None, failure_message="the grader timed out")
    )
    request = {"name": name, "base_model": "openai.gpt-oss-20b", "reward": "math_answer"}
    deployed.client("stepfunctions").start_execution(
        stateMachineArn=deployed.state_machine_arn,
        name=name,
        input=json.dumps({**request, "first_wait_seconds": wait_seconds}),
    )


def _metrics(deployed, name: str, steps: list[tuple[int, float]], total: int = 10) -> None:
    lines = "".join(
        json.dumps({"step": step, "total_steps": total, "critic_rewards_mean": reward, "actor_entropy": 0.9})
        + "\n"
        for step, reward in steps
    )
    deployed.client("s3").put_object(
        Bucket=deployed.artifacts_bucket, Key=f"jobs/{name}/metrics.jsonl", Body=lines.encode()
    )


def test_start_sends_the_validated_request_as_the_execution_input(rft, deployed, tmp_path: Path) -> None:
    hyperparameters = tmp_path / "hp.json"
    hyperparameters.write_text(json.dumps({"epochCount": 2, "batchSize": 64}))
    outcome = rft(
        *START,
        "--name",
        "gsm8k-v1",
        "--data",
        _uri(deployed),
        "-p",
        str(hyperparameters),
        "-p",
        "epochCount=3",
        "--tag",
        "team=ml",
        "--json",
    )
    assert outcome.exit_code == 0, outcome.stderr
    result = outcome.json()
    assert result["execution_arn"].endswith(":execution:staging-TrainingWorkflow:gsm8k-v1")
    execution = deployed.wait_for("gsm8k-v1")
    sent = json.loads(execution["input"])
    assert sent == result["request"]
    assert sent["hyperparameters"] == {"epochCount": 3, "batchSize": 64}  # k=v after the file wins
    assert sent["training_data"].startswith(f"s3://{deployed.datasets_bucket}/")
    assert sent["tags"] == {"team": "ml"} and sent["serve"] is True


def test_start_uploads_a_local_dataset_first(rft, deployed, tmp_path: Path) -> None:
    path = tmp_path / "train.jsonl"
    write_jsonl(path, rft_records(100))
    outcome = rft(*START, "--name", "local-data", "--data", str(path))
    assert outcome.exit_code == 0, outcome.stderr
    assert "Uploaded" in outcome.stderr and "rft train watch local-data --env staging" in outcome.stderr
    sent = json.loads(deployed.wait_for("local-data")["input"])
    assert sent["training_data"].startswith(f"s3://{deployed.datasets_bucket}/datasets/train-")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--reward", "nope"], "reward: unknown reward 'nope'; available: code_tests, json_schema"),
        (
            ["--reward", "code_tests"],
            "reward: 'code_tests' is not a deployed grader (known: json_schema, math_answer)",
        ),
        (["--base-model", "gpt-5"], "base_model: Unknown base model 'gpt-5'"),
        (["-p", "epochs=3"], "did you mean epochCount?"),
        (["--name", "bad name!"], "is not a valid run name"),
    ],
)
def test_start_refuses_a_bad_request_naming_the_field(rft, deployed, args: list[str], message: str) -> None:
    base = {"--name": "ok-name", "--data": _uri(deployed), "--reward": "math_answer"}
    options = [*START[:2], "--base-model", "openai.gpt-oss-20b"]
    for key, value in base.items():
        if key not in args:
            options += [key, value]
    outcome = rft(*options, *args)
    assert outcome.exit_code == 1  # the request checked is bad
    assert message in outcome.stderr
    assert (
        deployed.client("stepfunctions").list_executions(stateMachineArn=deployed.state_machine_arn)[
            "executions"
        ]
        == []
    )


def test_start_refuses_data_outside_the_datasets_bucket(rft, deployed) -> None:
    outcome = rft(*START, "--name", "elsewhere", "--data", f"s3://{deployed.artifacts_bucket}/x.jsonl")
    assert outcome.exit_code == 1
    assert "must be in this environment's datasets bucket" in outcome.stderr


def test_start_refuses_a_name_that_a_model_already_has(rft, deployed) -> None:
    deployed.put_model("taken", base_url="http://unused/v1")
    outcome = rft(*START, "--name", "taken", "--data", _uri(deployed))
    assert outcome.exit_code == 1
    assert "A run named 'taken' already names a trained model" in outcome.stderr


def test_start_checks_everything_local_before_any_aws_call(rft, tmp_path: Path, monkeypatch) -> None:
    # No credentials and no AWS at all: every local mistake is still reported, all at once.
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    data = tmp_path / "train.jsonl"
    write_jsonl(data, rft_records(100))
    outcome = rft(
        "train", "start", "--name", "bad name!", "--base-model", "gpt-5", "--reward", "mathh",
        "-p", "epochCount=999", "--data", str(data),
    )  # fmt: skip
    assert outcome.exit_code == 1
    assert "No AWS credentials" not in outcome.stderr
    assert "has 4 problems" in outcome.stderr
    for field in ("name:", "base_model:", "reward:", "hyperparameters.epochCount:"):
        assert field in outcome.stderr


def test_start_reports_a_bad_local_file_with_the_other_problems_and_uploads_nothing(
    rft, deployed, tmp_path: Path
) -> None:
    data = tmp_path / "train.jsonl"
    records = rft_records(100)
    records[2] = {"messages": [{"role": "user", "content": "q"}]}
    write_jsonl(data, records)
    outcome = rft(*START, "--name", "ok", "--data", str(data), "-p", "epochCount=999")
    assert outcome.exit_code == 1
    assert "line 3: reference_answer" in outcome.stderr and "epochCount" in outcome.stderr
    assert deployed.client("s3").list_objects_v2(Bucket=deployed.datasets_bucket)["KeyCount"] == 0


def test_start_refuses_an_s3_dataset_that_does_not_exist_or_is_invalid(rft, deployed) -> None:
    missing = rft(*START, "--name", "ok", "--data", f"s3://{deployed.datasets_bucket}/datasets/none.jsonl")
    assert missing.exit_code == 1
    assert "none.jsonl does not exist" in missing.stderr
    key = "datasets/small.jsonl"
    body = "".join(json.dumps(r) + "\n" for r in rft_records(5))
    deployed.client("s3").put_object(Bucket=deployed.datasets_bucket, Key=key, Body=body)
    small = rft(*START, "--name", "ok", "--data", f"s3://{deployed.datasets_bucket}/{key}")
    assert small.exit_code == 1 and "at least 100" in small.stderr
    executions = deployed.client("stepfunctions").list_executions(stateMachineArn=deployed.state_machine_arn)
    assert executions["executions"] == []


def test_dry_run_checks_everything_and_starts_nothing(rft, deployed, tmp_path: Path) -> None:
    data = tmp_path / "train.jsonl"
    write_jsonl(data, rft_records(100))
    outcome = rft(*START, "--name", "dry", "--data", str(data), "--dry-run")
    assert outcome.exit_code == 0, outcome.stderr
    assert "would start" in outcome.stderr and "nothing was uploaded or started" in outcome.stderr
    assert deployed.client("s3").list_objects_v2(Bucket=deployed.datasets_bucket)["KeyCount"] == 0
    executions = deployed.client("stepfunctions").list_executions(stateMachineArn=deployed.state_machine_arn)
    assert executions["executions"] == []
    as_json = rft(*START, "--name", "dry", "--data", str(data), "--dry-run", "--json").json()
    assert as_json["started"] is False and as_json["request"]["training_data"].startswith(
        f"s3://{deployed.datasets_bucket}/datasets/train-"
    )


def test_watch_once_shows_step_job_status_and_mantle_progress(rft, deployed) -> None:
    _start_direct(deployed, "running", wait_seconds=600)
    _metrics(deployed, "running", [(1, 0.52), (2, 0.55), (3, 0.61)])
    deployed.wait_for_state("running", "Wait for Mantle job")
    outcome = rft("train", "watch", "running", "--once", "--json")
    assert outcome.exit_code == 0, outcome.stderr
    run = outcome.json()
    assert run["status"] == "RUNNING" and run["finished"] is False
    assert run["step"] == "Wait for Mantle job"
    assert (run["job_status"], run["job_id"]) == ("validating_files", "ftjob-1")
    assert (run["current_step"], run["total_steps"], run["mean_reward"]) == (3, 10, 0.61)
    assert [m["step"] for m in run["metrics"]] == [1, 2, 3]

    text = rft("train", "watch", "running", "--once")
    assert "Wait for Mantle job · job validating_files · step 3/10 · mean reward 0.610" in text.stdout


def test_watch_follows_a_run_to_success_and_shows_the_model(rft, deployed) -> None:
    _start_direct(deployed, "quick", wait_seconds=1)
    _metrics(deployed, "quick", [(9, 0.8), (10, 0.85)])
    deployed.put_model("quick", base_url="http://unused/v1")
    outcome = rft("train", "watch", "quick", "--interval", "0.2")
    assert outcome.exit_code == 0, outcome.stderr
    assert "Run quick: SUCCEEDED" in outcome.stdout
    assert "job succeeded · step 10/10 · mean reward 0.850" in outcome.stdout
    assert "Model quick is ready" in outcome.stdout


def test_watch_exits_1_with_the_cause_when_the_run_fails(rft, deployed) -> None:
    _start_direct(deployed, "doomed", wait_seconds=0, outcome="failed")
    deployed.wait_for("doomed", status="FAILED")
    outcome = rft("train", "watch", "doomed")
    assert outcome.exit_code == 1
    assert (
        "The run failed: Mantle job ftjob-1 failed: the grader timed out (TrainingFailed)" in outcome.stdout
    )
    run = rft("train", "watch", "doomed", "--json")
    assert run.exit_code == 1
    assert run.json()["cause"] == "Mantle job ftjob-1 failed: the grader timed out"


def test_watch_reads_live_metrics_from_mantle_before_the_file_exists(rft, deployed, fake_openai) -> None:
    fake_openai.add_job("ftjob-1", status="running")
    fake_openai.add_metrics("ftjob-1", step=4, total_steps=20, critic_rewards_mean=0.7)
    _start_direct(deployed, "live", wait_seconds=600)
    deployed.wait_for_state("live", "Wait for Mantle job")
    run = rft("train", "watch", "live", "--once", "--json").json()
    assert (run["current_step"], run["total_steps"], run["mean_reward"]) == (4, 20, 0.7)


def test_watch_of_an_unknown_run(rft, deployed) -> None:
    outcome = rft("train", "watch", "ghost")
    assert outcome.exit_code == 2
    assert "No run named 'ghost' in environment 'staging'" in outcome.stderr


def test_list_and_stop(rft, deployed) -> None:
    _start_direct(deployed, "first", wait_seconds=0)
    deployed.wait_for("first")
    deployed.put_model("first", base_url="http://unused/v1")
    _start_direct(deployed, "second", wait_seconds=600)
    rows = rft("train", "list", "--json").json()
    assert {r["name"]: (r["status"], r["model"]) for r in rows} == {
        "first": ("SUCCEEDED", True),
        "second": ("RUNNING", False),
    }
    assert [r["name"] for r in rft("train", "list", "--status", "running", "--json").json()] == ["second"]
    assert "second" in rft("train", "list").stdout

    declined = rft("train", "stop", "second", input="n\n")
    assert declined.exit_code != 0 and "Stop run 'second'" in declined.stderr
    assert (
        deployed.client("stepfunctions").describe_execution(
            executionArn=deployed.state_machine_arn.replace(":stateMachine:", ":execution:") + ":second"
        )["status"]
        == "RUNNING"
    )
    stopped = rft("train", "stop", "second", "--reason", "wrong data", input="y\n")
    assert stopped.exit_code == 0, stopped.stderr
    execution = deployed.wait_for("second", status="ABORTED")
    assert execution["status"] == "ABORTED"
    watched = rft("train", "watch", "second")
    assert watched.exit_code == 1 and "The run aborted" in watched.stdout

    again = rft("train", "stop", "second", "--yes")
    assert again.exit_code == 2 and "already ended (ABORTED)" in again.stderr


def test_helpers() -> None:
    arn = "arn:aws:states:us-west-2:123456789012:stateMachine:wf"
    assert runs.execution_arn(arn, "r1") == "arn:aws:states:us-west-2:123456789012:execution:wf:r1"
    assert runs.parse_metrics_lines(['{"step": 2, "critic_rewards_mean": 0.5}', "junk", '{"step": 1}']) == [
        {"step": 1, "total_steps": None, "created_at": None},
        {"step": 2, "total_steps": None, "created_at": None, "critic_rewards_mean": 0.5},
    ]
    assert ENV == "staging"
