"""Every command and group has help with an example; read commands offer --json."""

from __future__ import annotations

import pytest
from moto import mock_aws

from rft.cli.main import app
from tests.cli.conftest import rft_records, write_jsonl

COMMANDS = [
    ["data"],
    ["data", "validate"],
    ["data", "convert"],
    ["data", "convert", "gsm8k"],
    ["data", "convert", "humaneval"],
    ["data", "convert", "jsonl"],
    ["data", "upload"],
    ["reward"],
    ["reward", "test"],
    ["train"],
    ["train", "start"],
    ["train", "watch"],
    ["train", "list"],
    ["train", "stop"],
    ["train", "report"],
    ["models"],
    ["models", "list"],
    ["models", "promote"],
    ["models", "history"],
    ["models", "delete"],
    ["chat"],
    ["eval"],
    ["doctor"],
    ["train", "reproduce"],
]
READ_COMMANDS = [c for c in COMMANDS if len(c) > 1 or c[0] in ("chat", "eval", "doctor")]
READ_COMMANDS.remove(["data", "convert"])


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_help_has_an_example(rft, command: list[str]) -> None:
    outcome = rft(*command, "--help")
    assert outcome.exit_code == 0
    assert "Example: rft " in outcome.stdout
    if command in READ_COMMANDS:
        assert "--json" in outcome.stdout


def test_every_command_is_listed_here() -> None:
    import typer.main

    group = typer.main.get_command(app)
    found = []

    def walk(command, path):
        found.append(path)
        for name, sub in getattr(command, "commands", {}).items():
            walk(sub, [*path, name])

    walk(group, [])
    assert sorted(found[1:]) == sorted(COMMANDS)


def test_a_base_model_needs_no_deployed_environment(rft, aws_credentials, fake_openai, tmp_path) -> None:
    data = tmp_path / "train.jsonl"
    write_jsonl(data, rft_records(3))
    with mock_aws():  # an account with nothing deployed
        chatted = rft("chat", "qwen.qwen3-32b", "hello", "--no-stream")
        sampled = rft(
            "reward", "test", "-r", "math_answer", "-d", str(data), "--sample-from", "qwen.qwen3-32b"
        )
        trained = rft("chat", "some-model", "hello")
    assert chatted.exit_code == 0 and chatted.stdout == "echo: hello\n"
    assert sampled.exit_code == 0, sampled.stderr
    assert trained.exit_code == 2 and "is not deployed in us-west-2" in trained.stderr


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_help_fits_80_columns_without_cutting_a_flag_or_a_word(rft, command: list[str]) -> None:
    import re

    import typer.main

    outcome = rft(*command, "--help", env_overrides={"COLUMNS": "80"})
    assert outcome.exit_code == 0
    lines = outcome.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert "…" not in outcome.stdout
    assert not [line for line in lines if re.search(r"[a-z]-$", line)], "a word or flag broken at a hyphen"
    click_command = typer.main.get_command(app)
    for name in command:
        click_command = click_command.commands[name]  # type: ignore[attr-defined]
    for param in click_command.params:
        for flag in param.opts:
            if flag.startswith("--"):
                assert re.search(rf"(^|[\s,/]){re.escape(flag)}([\s,=]|$)", outcome.stdout, re.M), flag


@pytest.mark.parametrize("command", READ_COMMANDS, ids=" ".join)
def test_json_is_shown_as_a_flag(rft, command: list[str]) -> None:
    outcome = rft(*command, "--help")
    assert "--json <bool>" not in outcome.stdout and "<bool>" not in outcome.stdout


def test_version(rft) -> None:
    from importlib.metadata import version

    outcome = rft("--version")
    assert outcome.exit_code == 0
    assert outcome.stdout == f"rft {version('rft-stack')}\n"


def test_short_flags_mean_one_thing_everywhere() -> None:
    import typer.main

    meanings: dict[str, set[str]] = {}

    def walk(command) -> None:
        for param in getattr(command, "params", []):
            longs = [o for o in param.opts if o.startswith("--")]
            for short in (o for o in param.opts if not o.startswith("--")):
                meanings.setdefault(short, set()).update(longs)
        for sub in getattr(command, "commands", {}).values():
            walk(sub)

    walk(typer.main.get_command(app))
    assert {short: longs for short, longs in meanings.items() if len(longs) > 1} == {}


def test_help_keeps_angle_brackets_and_hashes(rft) -> None:
    outcome = rft("data", "convert", "gsm8k", "--help")
    assert "#### <answer>" in " ".join(outcome.stdout.split())
