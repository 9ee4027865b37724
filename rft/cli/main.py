"""The `rft` command: data, reward preflight, training, models, chat and evaluation.

Every error a user can meet ends as one sentence on stderr with exit code 2 (``rft.cli.errors``);
the handler sits on the root command group, so it covers every subcommand, including when tests
invoke the app in-process.
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Sequence
from typing import TYPE_CHECKING, Annotated, Any

import typer
from typer.core import TyperGroup

from rft import PROJECT
from rft.cli import chat, data, doctor, evaluate, models, reproduce, reward, train, train_report
from rft.cli.common import debug_enabled
from rft.cli.errors import EXIT_BUG, describe

if TYPE_CHECKING:
    # typer vendors click and names no public type for the context its groups are invoked with
    # (typer.Context is a subclass of it, too narrow for an override).
    from typer._click import Context


class RftGroup(TyperGroup):
    """The root group: maps every known error to one sentence and an exit code."""

    def invoke(self, ctx: Context) -> Any:
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, typer.TyperException):
            raise
        except BrokenPipeError:  # stdout closed early (e.g. piped into head): stop quietly
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            raise typer.Exit(141) from None
        except KeyboardInterrupt:
            typer.echo("Interrupted.", err=True)
            raise typer.Exit(130) from None
        except Exception as exc:
            described = describe(exc)
            if debug_enabled():
                traceback.print_exc()
            if described is None:
                typer.echo(
                    f"Error: rft hit an unexpected {type(exc).__name__}: {exc} "
                    "(a bug; run with RFT_DEBUG=1 to see the traceback).",
                    err=True,
                )
                raise typer.Exit(EXIT_BUG) from None
            sentence, code = described
            typer.echo(f"Error: {sentence}", err=True)
            raise typer.Exit(code) from None


def _version(value: bool) -> None:
    if value:
        typer.echo(f"rft {installed_version()}")
        raise typer.Exit()


def installed_version() -> str:
    """The installed distribution's version (pyproject.toml), or "unknown" when run from a bare tree."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(PROJECT)
    except PackageNotFoundError:
        return "unknown"


app = typer.Typer(
    cls=RftGroup,
    name="rft",
    help=(
        "Reinforcement fine-tuning on Amazon Bedrock, against a deployed rft-stack environment.\n\n"
        "Example: rft data upload train.jsonl --env staging\n\n"
        "Exit codes: 0 done; 1 the thing checked is bad (invalid data, an invalid run request or a taken "
        "run name, a failed run, a grader breaking the reward contract); 2 the command could not do its "
        "work (usage, credentials, region, environment not deployed, unknown model); "
        "3 a bug in rft (RFT_DEBUG=1 shows the traceback). "
        "RFT_ENV sets the default --env. Shell completion: rft --install-completion."
    ),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@app.callback()
def root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print rft's version and exit."),
    ] = False,
) -> None:
    # The options every command shares are on the commands themselves (--env, --region, --json).
    return None


app.add_typer(data.app, name="data")
app.add_typer(reward.app, name="reward")
train.app.command(name="report")(train_report.report)
train.app.command("reproduce")(reproduce.reproduce)
app.add_typer(train.app, name="train")
app.add_typer(models.app, name="models")
app.command(name="chat", short_help="Send one prompt to a trained or base model, streamed.")(chat.chat)
app.command(name="doctor", short_help="Check that a deployed environment works, a line per check.")(
    doctor.doctor
)
app.command(name="eval", short_help="Compare a trained model with its base model on held-out prompts.")(
    evaluate.evaluate
)


def main(argv: Sequence[str] | None = None) -> int:
    """Console-script entry point (``rft = "rft.cli.main:main"``)."""
    try:
        # Without standalone mode click returns an Exit's code instead of calling sys.exit.
        result = app(args=list(argv) if argv is not None else None, prog_name="rft", standalone_mode=False)
    except typer.Exit as exc:
        return exc.exit_code
    except typer.TyperException as exc:  # usage errors: click's message and exit code 2
        show = getattr(exc, "show", None)
        if callable(show):
            show()
        else:
            typer.echo(f"Error: {exc.format_message()}", err=True)
        return exc.exit_code
    except typer.Abort:
        typer.echo("Aborted.", err=True)
        return 130
    return result if isinstance(result, int) else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
