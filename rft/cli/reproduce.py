"""`rft train reproduce`: start a recorded run of one environment again in another (rft.reproduce)."""

from __future__ import annotations

from typing import Annotated

import typer

from rft import reproduce as reproduction
from rft.cli.common import (
    FromProfileOption,
    FromRegionOption,
    Scope,
    environment,
    print_json,
    say,
    scoped,
    shown,
    warn,
)
from rft.cli.train import check_name_is_free, start_execution


@scoped
def reproduce(
    name: Annotated[str, typer.Argument(help="The recorded run (its model's name) to start again.")],
    from_env: Annotated[str, typer.Option("--from-env", help="The environment the run was recorded in.")],
    new_name: Annotated[
        str | None, typer.Option("--name", "-n", help="The new run's name (default: the same name).")
    ] = None,
    from_profile: FromProfileOption = None,
    from_region: FromRegionOption = None,
    allow_grader_change: Annotated[
        bool,
        typer.Option("--allow-grader-change", help="Start even if the target's grader runs other code."),
    ] = False,
    *,
    scope: Scope,
) -> None:
    """Start a run recorded in another environment again, from its pinned recipe: the same base
    model, data (copied into this environment's bucket when absent, sha256 verified), grader code
    (refused, naming both hashes, when it differs, unless --allow-grader-change) and
    hyperparameters. The new run records reproduced_from.

    \b
    Example: rft train reproduce gsm8k-v1 --from-env staging --env prod \\
               --from-profile staging --profile prod
    """
    source = environment(from_env, from_region, from_profile)
    target = scope.environment()
    prepared = reproduction.prepare(
        source, target, name, new_name=new_name, allow_grader_change=allow_grader_change
    )
    job = prepared.request
    check_name_is_free(target, job.name)
    if prepared.grader_changed:
        warn(f"grader {shown(job.reward)} in {target.name!r} runs other code than the recorded run.")
    for uri in prepared.copied:
        say(f"Copied {shown(uri)} (sha256 verified).")
    started = start_execution(target, job)
    if scope.json:
        print_json(
            {
                "name": job.name,
                "reproduced_from": prepared.source,
                "execution_arn": started["executionArn"],
                "copied": prepared.copied,
                "reused": prepared.reused,
                "grader_changed": prepared.grader_changed,
                "request": job.to_dict(),
            }
        )
        return
    say(f"Started run {job.name!r} in environment {target.name!r}, reproducing {prepared.source}.")
    say(f"Follow it with: rft train watch {job.name} --env {target.name}")
    typer.echo(started["executionArn"])
