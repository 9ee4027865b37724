"""What every command group shares: the options, the consoles, JSON output and status lines."""

from __future__ import annotations

import functools
import inspect
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from rft.environment import Environment, connect

# Consoles resolve sys.stdout / sys.stderr when they print, so test runners capture them.
console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)

DEFAULT_ENVIRONMENT = "staging"

EnvOption = Annotated[
    str,
    typer.Option(
        "--env",
        "-e",
        envvar="RFT_ENV",
        help="The environment (as named in cdk.json) whose deployed resources to use.",
        show_default=True,
    ),
]
RegionOption = Annotated[
    str | None,
    typer.Option(
        "--region",
        help="AWS region of the environment (default: AWS_REGION, AWS_DEFAULT_REGION or the profile's).",
        show_default=False,
    ),
]
ProfileOption = Annotated[
    str | None,
    typer.Option("--profile", envvar="AWS_PROFILE", help="AWS profile to use.", show_default=False),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for scripts instead of tables.")]
YesOption = Annotated[bool, typer.Option("--yes", "-y", help="Do it without asking.")]
GatewayOption = Annotated[
    bool,
    typer.Option(
        "--gateway",
        help="Call the model through the environment's gateway (OpenAI-compatible, SigV4), as apps do.",
    ),
]

# Where a command that moves something between environments takes it from (--from-env's account).
FromProfileOption = Annotated[
    str | None,
    typer.Option("--from-profile", help="AWS profile for the source environment.", show_default=False),
]
FromRegionOption = Annotated[
    str | None,
    typer.Option("--from-region", help="Region of the source environment.", show_default=False),
]


def environment(
    name: str, region: str | None, profile: str | None = None, *, deployed: bool = True
) -> Environment:
    """The environment ``name``; checked to be deployed in the region unless ``deployed`` is False
    (what needs only the account and region, such as calling a base model)."""
    target = connect(name, region=region, profile=profile)
    return target.check_deployed() if deployed else target


@dataclass(frozen=True)
class Scope:
    """What every command against an environment is told the same way: where it works (--env,
    --region, --profile) and how it answers (--json). A command receives it through ``@scoped``."""

    env: str = DEFAULT_ENVIRONMENT
    region: str | None = None
    profile: str | None = None
    json: bool = False

    def environment(self, *, deployed: bool = True) -> Environment:
        """The environment named by --env, as ``environment`` resolves it."""
        return environment(self.env, self.region, self.profile, deployed=deployed)


# The options ``@scoped`` puts in a command's ``scope`` parameter's place, in this order (their
# names are the keyword arguments typer passes back).
_SCOPE_OPTIONS = (
    ("env", EnvOption, DEFAULT_ENVIRONMENT),
    ("region", RegionOption, None),
    ("profile", ProfileOption, None),
    ("json_output", JsonOption, False),
)

Result = TypeVar("Result")


def scoped(command: Callable[..., Result]) -> Callable[..., Result]:
    """A command that declares one parameter ``scope: Scope`` (keyword-only: ``*, scope: Scope``)
    gets --env, --region, --profile and --json in that parameter's place: one definition of the
    options for every command, with the same names, help and defaults, in the same place in each
    command's help. Typer reads the options from the wrapper's signature and calls it with them;
    the command receives a ``Scope``."""
    signature = inspect.signature(command, eval_str=True)
    parameters = list(signature.parameters.values())
    names = [parameter.name for parameter in parameters]
    if "scope" not in names or signature.parameters["scope"].annotation is not Scope:
        raise TypeError(f"@scoped command {command.__name__} has no 'scope' parameter of type Scope")
    at = names.index("scope")
    options = [
        inspect.Parameter(name, parameters[at].kind, annotation=option, default=default)
        for name, option, default in _SCOPE_OPTIONS
    ]

    @functools.wraps(command)
    def run(*args: Any, **kwargs: Any) -> Result:
        scope = Scope(
            env=kwargs.pop("env"),
            region=kwargs.pop("region"),
            profile=kwargs.pop("profile"),
            json=kwargs.pop("json_output"),
        )
        return command(*args, scope=scope, **kwargs)

    # typer takes a command's options from inspect.signature, which reads __signature__ first.
    run.__signature__ = signature.replace(  # type: ignore[attr-defined]  # functions take attributes
        parameters=[*parameters[:at], *options, *parameters[at + 1 :]]
    )
    return run


def print_json(value: Any) -> None:
    """JSON on stdout, unwrapped and uncoloured, whatever the terminal."""
    typer.echo(json.dumps(value, indent=2, sort_keys=False, default=str, ensure_ascii=False))


def shown(value: object) -> str:
    """Any value, safe inside a rich markup string: brackets escaped (``out[v2].jsonl`` stays itself,
    ``[/]`` cannot close a tag and crash the print), lone surrogates (from file names or arguments
    that are not UTF-8) shown as escapes instead of failing the write. Every user-supplied string
    the CLI renders through rich goes through here."""
    text = str(value).encode("utf-8", "backslashreplace").decode("utf-8")
    return escape(text)


def say(message: str) -> None:
    """A status line on stderr, so stdout stays clean for what a script may capture. On a terminal
    it wraps between words at the terminal's width; into a file or a pipe it stays one line."""
    err_console.print(message, soft_wrap=not err_console.is_terminal)


def warn(message: str) -> None:
    say(f"[yellow]Warning:[/] {message}")


def confirm(question: str, *, yes: bool) -> None:
    """Ask on the terminal before something that cannot be undone; ``--yes`` answers for scripts.
    No answer (end of input) or "no" aborts, and nothing is done."""
    if not yes:
        typer.confirm(question, abort=True, err=True)


def plural(count: int, noun: str, nouns: str | None = None) -> str:
    """``1 prompt``, ``2 prompts``, ``1,200 prompts``."""
    return f"{count:,} {noun if count == 1 else (nouns or noun + 's')}"


def debug_enabled() -> bool:
    return os.environ.get("RFT_DEBUG", "").strip().lower() in ("1", "true", "yes")
