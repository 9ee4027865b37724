"""`rft doctor`: check a deployed environment end to end (``rft.doctor``); exit 0 when no check
fails (warnings allowed), 1 when one does, so a pipeline stage fails on a broken deployment."""

from __future__ import annotations

from typing import Annotated

import typer

from rft import doctor as checks
from rft.cli.common import Scope, console, print_json, scoped, shown
from rft.cli.errors import EXIT_CHECK_FAILED

COLOURS = {checks.OK: "green", checks.WARN: "yellow", checks.FAIL: "red"}


@scoped
def doctor(
    *,
    scope: Scope,
    timeout: Annotated[
        float,
        typer.Option(min=1.0, help="Seconds to wait for the validate-only run to end."),
    ] = checks.DEFAULT_RUN_TIMEOUT_SECONDS,
) -> None:
    """Check that an environment works: its stacks are at one version, every grader scores its
    canary batch, the workflow accepts a validate-only run (no job starts), the gateway answers a
    signed GET /v1/models, the topic has a confirmed subscription, the budget and alarms exist.
    Exit 0 when nothing failed (warnings allowed), 1 otherwise.

    Example: rft doctor --env staging
    """
    target = scope.environment()
    found = checks.examine(target, checks.DoctorOptions(run_timeout_seconds=timeout))
    ok = checks.healthy(found)
    if scope.json:
        print_json(
            {
                "environment": target.name,
                "region": target.region,
                "ok": ok,
                "checks": [check.to_dict() for check in found],
            }
        )
    else:
        _print(target.name, found, ok)
    if not ok:
        raise typer.Exit(EXIT_CHECK_FAILED)


def _print(name: str, found: list[checks.Check], ok: bool) -> None:
    """A line per check, wrapped between words at the terminal's width; the fix indented below."""
    wrap = not console.is_terminal
    for check in found:
        colour = COLOURS.get(check.status, "red")
        console.print(
            f"[{colour}]{check.status:<4}[/] [bold]{shown(check.name)}[/]: {shown(check.detail)}",
            soft_wrap=wrap,
        )
        if check.action and check.status != checks.OK:
            console.print(f"     to do: {shown(check.action)}", soft_wrap=wrap)
    failed = sum(check.status == checks.FAIL for check in found)
    warned = sum(check.status == checks.WARN for check in found)
    verdict = "[green]healthy[/]" if ok else f"[red]{failed} check(s) failed[/]"
    console.print(f"Environment '{shown(name)}': {verdict}, {warned} warning(s).", soft_wrap=wrap)
