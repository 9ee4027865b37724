"""The options every environment command shares (--env, --region, --profile, --json) have one
definition, ``rft.cli.common.scoped``: each command shows them exactly as a command that spells
them out would, where its ``scope`` parameter stands, and receives what the user typed."""

from __future__ import annotations

from typing import Annotated, Any

import pytest
import typer
import typer.main
from typer.testing import CliRunner

from rft.cli import common
from rft.cli.common import Scope, scoped
from rft.cli.main import app

SHARED = ("env", "region", "profile", "json_output")


def spelled_out(
    env: common.EnvOption = common.DEFAULT_ENVIRONMENT,
    region: common.RegionOption = None,
    profile: common.ProfileOption = None,
    json_output: common.JsonOption = False,
) -> None:
    """The four options as each command declared them before they had one home."""


def _commands() -> list[tuple[str, Any]]:
    """Every leaf command of `rft`, with its path."""
    found: list[tuple[str, Any]] = []

    def walk(command: Any, path: list[str]) -> None:
        subcommands = getattr(command, "commands", None)
        if subcommands is None:
            found.append((" ".join(path), command))
        for name, sub in (subcommands or {}).items():
            walk(sub, [*path, name])

    walk(typer.main.get_command(app), [])
    return found


def _described(command: Any) -> dict[str, tuple[dict[str, str], Any]]:
    """Each option's definition (its public attributes) and the line its help shows."""
    context = typer.Context(command)
    return {
        param.name or "": (
            {key: _plain(key, value) for key, value in vars(param).items() if not key.startswith("_")},
            param.get_help_record(context),
        )
        for param in command.params
    }


def _plain(key: str, value: Any) -> str:
    # The type descriptor's repr holds the address of its (per-declaration) OptionInfo.
    return repr(value.annotation if key == "type_descriptor" else value)


def _reference() -> dict[str, tuple[dict[str, str], Any]]:
    probe = typer.Typer(add_completion=False)
    probe.command()(spelled_out)
    return _described(typer.main.get_command(probe))


SCOPED = [(path, command) for path, command in _commands() if "env" in {p.name for p in command.params}]


def test_the_environment_commands_all_take_the_shared_options() -> None:
    paths = {path for path, _ in SCOPED}
    # Only the offline commands (converters) go without an environment.
    assert paths == {path for path, _ in _commands()} - {
        "data convert gsm8k",
        "data convert humaneval",
        "data convert jsonl",
    }


@pytest.mark.parametrize(("path", "command"), SCOPED, ids=[path for path, _ in SCOPED])
def test_each_command_shows_the_shared_options_as_spelled_out(path: str, command: Any) -> None:
    reference = _reference()
    described = _described(command)
    for name in SHARED:
        assert described[name] == reference[name], f"{path}: {name}"
    # ...as one block, in the order the commands always had (data validate puts --json first).
    order = [param.name for param in command.params if param.name in SHARED]
    expected = ["json_output", "env", "region", "profile"] if path == "data validate" else list(SHARED)
    assert order == expected


def test_the_options_stand_where_the_scope_parameter_stands() -> None:
    probe = typer.Typer(add_completion=False)

    @probe.command()
    @scoped
    def command(
        first: Annotated[str, typer.Argument()],
        *,
        scope: Scope,
        last: Annotated[int, typer.Option()] = 1,
    ) -> None:
        """A probe."""

    names = [param.name for param in typer.main.get_command(probe).params]
    assert names == ["first", *SHARED, "last"]
    assert command.__name__ == "command" and command.__doc__ == "A probe."


def test_the_command_receives_what_was_typed_and_the_variables() -> None:
    received: list[tuple[Scope, int]] = []
    probe = typer.Typer(add_completion=False)

    @probe.command()
    @scoped
    def command(*, scope: Scope, count: Annotated[int, typer.Option()] = 1) -> None:
        received.append((scope, count))

    runner = CliRunner()
    clean = {"RFT_ENV": None, "AWS_PROFILE": None}
    assert runner.invoke(probe, [], env=clean).exit_code == 0
    typed = ["--env", "prod", "--region", "eu-west-1", "--profile", "p", "--json", "--count", "3"]
    assert runner.invoke(probe, typed, env=clean).exit_code == 0
    assert runner.invoke(probe, [], env={"RFT_ENV": "dev", "AWS_PROFILE": "ops"}).exit_code == 0
    assert received == [
        (Scope(env="staging", region=None, profile=None, json=False), 1),
        (Scope(env="prod", region="eu-west-1", profile="p", json=True), 3),
        (Scope(env="dev", region=None, profile="ops", json=False), 1),
    ]


def test_a_command_without_a_scope_parameter_is_refused_when_defined() -> None:
    with pytest.raises(TypeError, match="no 'scope' parameter"):

        @scoped
        def command(env: str = "staging") -> None:
            return None


def test_a_scope_parameter_of_another_type_is_refused() -> None:
    with pytest.raises(TypeError, match="of type Scope"):

        @scoped
        def command(scope: str = "staging") -> None:
            return None
