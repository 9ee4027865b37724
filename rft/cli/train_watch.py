"""How `rft train watch` (and `rft train start --watch`) shows a run: the live line while it runs, a
line of what it is doing (step, job status, progress, reward, the health guard's signals) and its
end state as sentences. What a run is comes from ``rft.runs.read_run``; this module presents it."""

from __future__ import annotations

import time
from typing import Any

from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Column

from rft.cli.common import console, err_console, print_json, say, shown, warn
from rft.cli.errors import EXIT_CHECK_FAILED
from rft.environment import Environment
from rft.errors import RftError
from rft.runs import LiveMetrics, RunStatus, read_run


def _live_metrics(target: Environment) -> LiveMetrics:
    """A running Mantle job's step metrics, read with the client's own Mantle connection."""

    warned: set[str] = set()

    def read(job_id: str) -> list[dict[str, Any]] | None:
        from rft.cli.inference import mantle_openai
        from rft.mantle_metrics import list_step_metrics

        try:
            return [m.to_dict() for m in list_step_metrics(mantle_openai(target, None), job_id)]
        except RftError as exc:  # live metrics are a bonus: the run's status does not depend on them
            if str(exc) not in warned:  # once, not at every poll
                warned.add(str(exc))
                warn(f"could not read live metrics from Mantle: {shown(exc)}")
            return None

    return read


def run_parts(run: RunStatus) -> list[str]:
    """What a run is doing, most important first: step, job status, progress, reward."""
    parts = [run.step or "starting"]
    if run.job_status:
        parts.append(f"job {run.job_status}")
    if run.current_step is not None:
        total = f"/{run.total_steps}" if run.total_steps else ""
        parts.append(f"step {run.current_step}{total}")
    if run.mean_reward is not None:
        parts.append(f"mean reward {run.mean_reward:.3f}")
    parts.extend(latest_signals(run))
    if run.guard_verdict:
        found = f" ({', '.join(run.guard_findings)})" if run.guard_findings else ""
        parts.append(f"guard {run.guard_verdict}{found}")
    return parts


def latest_signals(run: RunStatus) -> list[str]:
    """The last step's response length and entropy: the health guard's other signals."""
    last = run.metrics[-1] if run.metrics else {}
    shown_signals = []
    for key, label, form in (("response_length_mean", "length", ".0f"), ("actor_entropy", "entropy", ".2f")):
        value = last.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            shown_signals.append(f"{label} {value:{form}}")
    return shown_signals


def describe_run(run: RunStatus) -> str:
    first, *rest = (shown(part) for part in run_parts(run))
    return " · ".join([f"[bold]{first}[/]", *rest])


def describe_plain(run: RunStatus) -> str:
    return " · ".join(run_parts(run))


# Below this width the live line drops the run's name (said once above it) and the bar.
WIDE_LIVE_LINE = 100


def _live_line(width: int) -> list[Any]:
    """The live line's columns for a terminal ``width``: the description folds rather than being
    cut, so the step and the mean reward are always whole."""
    description = TextColumn("{task.description}", table_column=Column(ratio=1, overflow="fold"))
    if width < WIDE_LIVE_LINE:
        return [description, TimeElapsedColumn()]
    name = TextColumn("{task.fields[run]}", table_column=Column(no_wrap=True))
    return [name, BarColumn(bar_width=24), description, TimeElapsedColumn()]


def follow(target: Environment, name: str, *, interval: float, json_output: bool, once: bool = False) -> int:
    """Show run ``name`` until it ends (or once): a live line on stderr on a terminal, quiet polling
    with --json, then its end state; the exit code is 1 when the run failed, timed out or was stopped."""
    live_metrics = _live_metrics(target)
    run = read_run(target, name, live_metrics=live_metrics)
    if not (once or run.finished or json_output):
        if err_console.width < WIDE_LIVE_LINE:
            say(
                f"Watching run {shown(name)} in environment {target.name!r} "
                "(Ctrl-C stops watching, not the run)."
            )
        # The live line is on stderr with the warnings, which rich prints above it; stdout keeps
        # only the final summary.
        with Progress(*_live_line(err_console.width), console=err_console, transient=False) as progress:
            task = progress.add_task(describe_run(run), total=run.total_steps, run=shown(name))
            while not run.finished:
                progress.update(
                    task,
                    description=describe_run(run),
                    total=run.total_steps,
                    completed=run.current_step or 0,
                )
                time.sleep(interval)
                run = read_run(target, name, live_metrics=live_metrics)
            progress.update(task, description=describe_run(run), completed=run.current_step or 0)
    elif not once and not run.finished:  # --json: poll quietly, print the end state
        while not run.finished:
            time.sleep(interval)
            run = read_run(target, name, live_metrics=live_metrics)
    if json_output:
        print_json(run.to_dict())
    else:
        _print_run(run)
    if run.status in ("FAILED", "TIMED_OUT", "ABORTED"):
        return EXIT_CHECK_FAILED
    return 0


def _print_run(run: RunStatus) -> None:
    """The run's end state as sentences; on a terminal they wrap between words."""
    wrap = not console.is_terminal
    colour = {"SUCCEEDED": "green", "RUNNING": "cyan"}.get(run.status, "red")
    console.print(
        f"Run [bold]{shown(run.name)}[/]: [{colour}]{run.status}[/] · {describe_run(run)}", soft_wrap=wrap
    )
    if run.status in ("FAILED", "TIMED_OUT", "ABORTED"):
        what = run.cause or run.error or "no cause recorded"
        console.print(
            f"[red]The run {run.status.lower().replace('_', ' ')}:[/] {shown(what)}"
            + (f" ({shown(run.error)})" if run.error and run.cause else ""),
            soft_wrap=wrap,
        )
    if run.model:
        console.print(
            f"Model [bold]{shown(run.model['name'])}[/] is {run.model['status']}: "
            f"{shown(run.model['model_id'])} ({run.model['provider']}). "
            f'Try: rft chat {shown(run.model["name"])} "..."',
            soft_wrap=wrap,
        )
