"""`rft train report NAME`: the run's training curves with the health guard's findings, as a PNG."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rft.cli.common import Scope, print_json, say, scoped, shown
from rft.health import GuardSettings, assess
from rft.runs import read_run
from rft.training_plot import training_report_png


@scoped
def report(
    name: Annotated[str, typer.Argument(help="The run's name.")],
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Where to write the PNG (default: NAME-training.png)."),
    ] = None,
    *,
    scope: Scope,
) -> None:
    """Write a PNG of a run's training curves (reward, response length, entropy, gradient norm) with
    the health guard's findings marked at the step it saw them (default thresholds).

    Example: rft train report gsm8k-v1 --env staging -o gsm8k-v1.png
    """
    run = read_run(scope.environment(), name)
    if not run.metrics:
        raise typer.BadParameter(f"run {name!r} has reported no training metrics yet", param_hint="NAME")
    settings = GuardSettings()
    assessment = assess(run.metrics, settings)
    path = output or Path(f"{name}-training.png")
    path.write_bytes(training_report_png(name, run.metrics, assessment, [str(c) for c in settings.stop_on]))
    if scope.json:
        print_json({"png": str(path), **assessment.to_dict()})
        return
    say(f"Wrote {shown(path)}: {assessment.steps} steps, health guard {assessment.verdict.value}.")
    for finding in assessment.findings:
        say(shown(f"  [{finding.code.value}] step {finding.step}: {finding.message}"))
