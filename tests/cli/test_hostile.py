"""The CLI against hostile input: user data is printed as itself (rich markup escaped), a side effect
is never followed by a crash, patterns match whole values, and hostile files are one clear error."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rft.cli.common import shown
from rft.records import EvaluationSummary
from tests.cli.conftest import rft_records, write_jsonl

START = ["train", "start", "--base-model", "openai.gpt-oss-20b", "--reward", "math_answer"]


@pytest.mark.parametrize(
    "text", ["[/]", "[red]x", "out[v2].jsonl", "a\\", "[bold]", "\udc80", "[link=x]y[/link]"]
)
def test_shown_prints_any_text_as_itself(text):
    from rich.console import Console

    console = Console(record=True, width=200, file=open("/dev/null", "w"))  # noqa: SIM115
    console.print(f"[green]{shown(text)}[/]")
    expected = text.encode("utf-8", "backslashreplace").decode("utf-8")
    assert console.export_text().rstrip("\n") == expected


def test_a_role_that_looks_like_markup_is_reported_not_a_crash(tmp_path: Path, rft) -> None:
    records = rft_records(100)
    records[3]["messages"] = [{"role": "[/]", "content": "q"}]
    records[4]["messages"] = [{"role": "[red]oops", "content": "q"}]
    path = tmp_path / "train.jsonl"
    write_jsonl(path, records)
    outcome = rft("data", "validate", str(path))
    assert outcome.exit_code == 1, outcome.stderr
    assert "'[/]'" in outcome.stdout and "'[red]oops'" in outcome.stdout


def test_a_file_name_with_brackets_is_reported_as_itself(tmp_path: Path, rft) -> None:
    source = tmp_path / "gsm8k.jsonl"
    source.write_text(json.dumps({"question": "What is 2 + 2?", "answer": "#### 4"}) + "\n")
    target = tmp_path / "out[v2].jsonl"
    outcome = rft("data", "convert", "gsm8k", str(source), str(target))
    assert outcome.exit_code == 0, outcome.stderr
    assert "out[v2].jsonl" in outcome.stderr


def test_a_file_name_keeps_its_case_in_an_error(tmp_path: Path, rft, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    Path("r_array.jsonl").write_text('{"messages": [}\n')
    outcome = rft("reward", "test", "--reward", "math_answer", "--data", "r_array.jsonl", "--gold")
    assert outcome.exit_code == 2
    assert "r_array.jsonl" in outcome.stderr and "R_array.jsonl" not in outcome.stderr


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (b'{"messages": [{"role": "user", "content": "\xff"}], "reference_answer": 1}\n', "not valid UTF-8"),
        (
            b'{"messages": [{"role": "user", "content": "\\udc80"}], "reference_answer": 1}\n',
            "lone surrogate",
        ),
        (b'{"messages": [], "reference_answer": ' + b"[" * 3000 + b"]" * 3000 + b"}\n", "nested deeper"),
        (b'{"messages": [], "reference_answer": ' + b"9" * 5000 + b"}\n", "5,000-digit"),
    ],
)
def test_reward_test_reads_hostile_files_as_one_error(
    tmp_path: Path, rft, content: bytes, fragment: str
) -> None:
    path = tmp_path / "data.jsonl"
    path.write_bytes(content)
    outcome = rft("reward", "test", "--reward", "math_answer", "--data", str(path), "--gold")
    assert outcome.exit_code == 2, outcome.stderr
    assert fragment in outcome.stderr and "data.jsonl:1:" in outcome.stderr


def test_convert_refuses_a_file_that_is_not_utf8_as_one_error(tmp_path: Path, rft) -> None:
    source = tmp_path / "gsm8k.jsonl"
    source.write_bytes(b'{"question": "\xff", "answer": "#### 4"}\n')
    outcome = rft("data", "convert", "gsm8k", str(source), str(tmp_path / "out.jsonl"))
    assert outcome.exit_code == 1  # the thing checked is bad
    assert "line 1: not valid UTF-8" in outcome.stderr
    assert not (tmp_path / "out.jsonl").exists()


def test_promote_with_a_markup_reason_moves_the_alias_and_prints_it(rft, deployed) -> None:
    deployed.put_model("v1", base_url="http://unused/v1")
    outcome = rft("models", "promote", "v1", "--alias", "prod", "--force", "[/]oops")
    assert outcome.exit_code == 0, outcome.stderr
    assert "[/]oops" in outcome.stderr
    history = rft("models", "history", "prod")
    assert history.exit_code == 0, history.stderr
    assert "[/]oops" in history.stdout


def test_promote_refuses_an_unprintable_reason_before_moving_the_alias(rft, deployed) -> None:
    deployed.put_model("v1", base_url="http://unused/v1")
    outcome = rft("models", "promote", "v1", "--alias", "prod", "--force", "line\nbreak")
    assert outcome.exit_code == 2
    assert deployed.registry().get_alias("prod") is None


def test_models_list_prints_stored_values_as_they_are(rft, deployed) -> None:
    deployed.put_model("v1", base_url="http://unused/v1", reward="[/]weird")
    deployed.registry().put_evaluation(
        EvaluationSummary(name="v1", reward="[/]weird", mean_reward=0.5, samples=1, dataset="d")
    )
    outcome = rft("models", "list")
    assert outcome.exit_code == 0, outcome.stderr
    assert "[/]weird" in outcome.stdout


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--region", "us-west-2\n"], "is not an AWS region"),
        (["--env", "staging\n"], "is not an environment name"),
    ],
)
def test_a_trailing_newline_is_not_a_region_or_an_environment(rft, deployed, args, fragment) -> None:
    outcome = rft("models", "list", *args)
    assert outcome.exit_code == 2
    assert fragment in outcome.stderr


@pytest.mark.parametrize("hours", ["nan", "inf", "0", "721"])
def test_time_limit_hours_must_be_a_finite_number_in_range(rft, deployed, hours: str) -> None:
    outcome = rft(*START, "--name", "n1", "--data", "s3://x/y.jsonl", "--time-limit-hours", hours)
    assert outcome.exit_code == 2
    assert (
        f"{hours if hours != '721' else '721.0'} is not a number of hours from 0.1 to 720" in outcome.stderr
    )


def test_start_refuses_a_name_that_an_alias_already_has(rft, deployed) -> None:
    deployed.put_model("v1", base_url="http://unused/v1")
    deployed.registry().set_alias("prod", "v1", by="test", reason="first")
    uri = f"s3://{deployed.datasets_bucket}/datasets/train.jsonl"
    outcome = rft(*START, "--name", "prod", "--data", uri)
    assert outcome.exit_code != 0
    assert "A run named 'prod' already names an alias" in outcome.stderr
    assert (
        deployed.client("stepfunctions").list_executions(stateMachineArn=deployed.state_machine_arn)[
            "executions"
        ]
        == []
    )


def test_one_escape_helper_renders_user_data_in_every_command() -> None:
    import pkgutil
    from pathlib import Path as _Path

    import rft.cli

    folder = _Path(rft.cli.__file__).parent
    for module in pkgutil.iter_modules([str(folder)]):
        source = (folder / f"{module.name}.py").read_text()
        if module.name != "common":
            assert "rich.markup import escape" not in source, module.name
