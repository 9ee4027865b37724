"""`rft train`: start, watch, list and stop runs of the environment's training workflow.

A run is one Step Functions execution named after the run; its input is the job request
(``rft.jobs.JobRequest.to_dict()``). ``watch`` presents what ``rft.runs.read_run`` reads from the
execution (status, the state it is in, the failure cause, the job status the workflow last saw, the
per-step training metrics); while a Mantle job's metrics file does not exist yet, the client asks
the Mantle events API itself.
"""

from __future__ import annotations

import json
import math
import time
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Column

from rft.cli import start_checks
from rft.cli.common import (
    Scope,
    YesOption,
    confirm,
    console,
    err_console,
    print_json,
    say,
    scoped,
    shown,
    warn,
)
from rft.cli.errors import EXIT_CHECK_FAILED
from rft.cli.render import Col, fitted_table, short_time
from rft.environment import Environment
from rft.errors import Problem, RftError, ValidationError
from rft.jobs import JobRequest
from rft.registry import ModelRegistry
from rft.runs import STATUSES, LiveMetrics, RunStatus, execution_arn, iso, read_run

app = typer.Typer(
    help="Start, watch, list and stop training runs.\n\nExample: rft train list --env staging",
    no_args_is_help=True,
)


DEFAULT_INTERVAL = 30.0
IntervalOption = Annotated[float, typer.Option(min=0.0, help="Seconds between checks while watching.")]


class RunNameTakenError(RftError):
    """A run of that name already exists (Step Functions keeps execution names for 90 days)."""


# --- start ------------------------------------------------------------------------------------


def _existing_run(target: Environment, name: str) -> dict[str, Any] | None:
    from botocore.exceptions import ClientError

    try:
        described: dict[str, Any] = target.client("stepfunctions").describe_execution(
            executionArn=execution_arn(target.state_machine_arn, name)
        )
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ExecutionDoesNotExist":
            return None
        raise
    return described


def _hours(value: float | None, low: float, high: float) -> float | None:
    # Checked here rather than by click's range: `nan` fails every comparison, and click then
    # reports a bound it does not break.
    if value is not None and not (math.isfinite(value) and low <= value <= high):
        raise typer.BadParameter(f"{value} is not a number of hours from {low:g} to {high:g}.")
    return value


def _check_name_is_free(target: Environment, name: str) -> None:
    existing = _existing_run(target, name)
    if existing is not None:
        raise _taken(
            target, name, f"ran ({existing['status']}, started {existing['startDate']:%Y-%m-%d %H:%M})"
        )
    registry = ModelRegistry(target.client("ssm"), target.name)
    if registry.find_model(name) is not None:
        raise _taken(target, name, "names a trained model")
    if registry.get_alias(name) is not None:
        # The gateway resolves aliases first: a model of this name could never be called by it.
        raise _taken(target, name, "names an alias")


def _taken(target: Environment, name: str, how: str) -> RunNameTakenError:
    return RunNameTakenError(
        f"A run named {name!r} already {how} in environment {target.name!r}; "
        "each run needs a new name (it also names the job and the model): choose another --name."
    )


@app.command("start")
@scoped
def start(
    name: Annotated[
        str, typer.Option("--name", "-n", help="The run's name; it also names the job and the model.")
    ],
    base_model: Annotated[str, typer.Option("--base-model", "-m", help="A base model id from the catalog.")],
    data: Annotated[
        str, typer.Option("--data", "-d", help="Training data: s3:// URI, or a local JSONL to upload.")
    ],
    reward: Annotated[str, typer.Option("--reward", "-r", help="A deployed grader (e.g. math_answer).")],
    hyperparameter: Annotated[
        list[str] | None,
        typer.Option(
            "--hyperparameters",
            "-p",
            help="A JSON file or name=value (Bedrock names, e.g. epochCount=3); repeat for more.",
        ),
    ] = None,
    validation_data: Annotated[
        str | None, typer.Option("--validation-data", help="Validation data: s3:// URI or a local JSONL.")
    ] = None,
    serve: Annotated[
        bool, typer.Option("--serve/--no-serve", help="Make the model callable when training ends.")
    ] = True,
    time_limit_hours: Annotated[
        float | None,
        typer.Option(
            callback=lambda value: _hours(value, 0.1, 720),
            help="Stop the job after this many hours, 0.1 to 720 (default 72).",
        ),
    ] = None,
    tag: Annotated[
        list[str] | None, typer.Option("--tag", help="key=value tag on the job and model.")
    ] = None,
    watch_run: Annotated[bool, typer.Option("--watch", help="Watch the run after starting it.")] = False,
    interval: IntervalOption = DEFAULT_INTERVAL,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run", help="Check everything, upload and start nothing; exit 0 if it would start."
        ),
    ] = False,
    *,
    scope: Scope,
) -> None:
    """Start a training run: check the request here (every problem at once), then check it
    against the environment (deployed, name free, reward deployed, data present and valid), then
    upload local data and start the environment's workflow.

    \b
    Example: rft train start --env staging --name gsm8k-v1 \\
               --base-model openai.gpt-oss-20b --data train.jsonl \\
               --reward math_answer -p epochCount=2 --dry-run
    """
    options = {
        "name": name,
        "base_model": base_model,
        "training_data": data,
        "validation_data": validation_data,
        "reward": reward,
        "serve": serve,
        "time_limit_seconds": None if time_limit_hours is None else round(time_limit_hours * 3600),
    }
    located = scope.environment(deployed=False)  # region only: no AWS call yet
    request = start_checks.check_locally(
        options, hyperparameters=hyperparameter or [], tags=tag or [], region=located.region
    )
    _refuse_if_any(request.problems)
    target = located.check_deployed()
    job = start_checks.check_environment(request, target, name_check=_check_name_is_free)
    _refuse_if_any(request.problems)
    assert job is not None  # no problems: the request
    if dry_run:
        _say_dry_run(target, job, request, json_output=scope.json)
        return
    for path in request.local_files.values():
        from rft.cli.data import upload_dataset

        uploaded = upload_dataset(target, path)
        say(f"Uploaded {shown(path)} to {shown(uploaded['uri'])}.")
    started = _start_execution(target, job)
    result = {"name": job.name, "execution_arn": started["executionArn"], "request": job.to_dict()}
    if scope.json and not watch_run:
        print_json(result)
        return
    say(
        f"Started run {job.name!r} in environment {target.name!r} "
        f"({job.model.display_name}, reward {job.reward})."
    )
    say(f"Follow it with: rft train watch {job.name} --env {target.name}")
    if watch_run:
        raise typer.Exit(_watch(target, job.name, interval=interval, json_output=scope.json))
    typer.echo(started["executionArn"])


def _refuse_if_any(problems: list[Problem]) -> None:
    """Every problem on stderr, then the one-sentence error (exit 1): nothing was uploaded or started."""
    if not problems:
        return
    if len(problems) > 1:
        for problem in problems:
            err_console.print(f"  {shown(problem)}")
    raise ValidationError("The run request (nothing uploaded or started)", problems)


def _say_dry_run(target: Environment, job: JobRequest, request: Any, *, json_output: bool) -> None:
    uploads = {key: str(path) for key, path in request.local_files.items()}
    if json_output:
        print_json({"name": job.name, "would_upload": uploads, "request": job.to_dict(), "started": False})
        return
    for key, path in uploads.items():
        say(f"Would upload {shown(path)} to {job.to_dict()[key]}.")
    say(
        f"Dry run: run {job.name!r} would start in environment {target.name!r} "
        f"({job.model.display_name}, reward {job.reward}); nothing was uploaded or started."
    )


def _start_execution(target: Environment, job: JobRequest) -> dict[str, Any]:
    from botocore.exceptions import ClientError

    try:
        started: dict[str, Any] = target.client("stepfunctions").start_execution(
            stateMachineArn=target.state_machine_arn, name=job.name, input=json.dumps(job.to_dict())
        )
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ExecutionAlreadyExists":
            raise _taken(target, job.name, "ran") from None
        raise
    return started


# --- the state of a run -------------------------------------------------------------------------


def _live_metrics(target: Environment) -> LiveMetrics:
    """A running Mantle job's step metrics, read with the client's own Mantle connection."""

    warned: set[str] = set()

    def read(job_id: str) -> list[dict[str, Any]] | None:
        from rft.cli.inference import mantle_openai
        from rft.mantle import list_step_metrics

        try:
            return [m.to_dict() for m in list_step_metrics(mantle_openai(target, None), job_id)]
        except RftError as exc:  # live metrics are a bonus: the run's status does not depend on them
            if str(exc) not in warned:  # once, not at every poll
                warned.add(str(exc))
                warn(f"could not read live metrics from Mantle: {shown(exc)}")
            return None

    return read


# --- watch --------------------------------------------------------------------------------------


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


def _watch(target: Environment, name: str, *, interval: float, json_output: bool, once: bool = False) -> int:
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


@app.command("watch")
@scoped
def watch(
    name: Annotated[str, typer.Argument(help="The run's name.")],
    interval: IntervalOption = DEFAULT_INTERVAL,
    once: Annotated[bool, typer.Option("--once", help="Print the current state once and exit.")] = False,
    *,
    scope: Scope,
) -> None:
    """Follow a run to its end: workflow step, job status and, for Mantle jobs, step n/total with the
    current mean reward. Exits 1 (printing the cause) if the run fails, times out or is stopped.

    Example: rft train watch gsm8k-v1 --env staging
    """
    code = _watch(scope.environment(), name, interval=interval, json_output=scope.json, once=once)
    if code:
        raise typer.Exit(code)


# --- list and stop ------------------------------------------------------------------------------


@app.command("list")
@scoped
def list_runs(
    status: Annotated[
        str | None,
        typer.Option(help="Only runs in this state (RUNNING, SUCCEEDED, FAILED, TIMED_OUT, ABORTED)."),
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="Most runs to show, newest first.")] = 20,
    *,
    scope: Scope,
) -> None:
    """The environment's runs, newest first, and whether each published a model.

    Example: rft train list --env staging --status RUNNING
    """
    target = scope.environment()
    kwargs: dict[str, Any] = {"stateMachineArn": target.state_machine_arn, "maxResults": min(limit, 100)}
    if status:
        if status.upper() not in STATUSES:
            raise typer.BadParameter(f"{status!r} is not a run state", param_hint="--status")
        kwargs["statusFilter"] = status.upper()
    runs: list[dict[str, Any]] = []
    paginator = target.client("stepfunctions").get_paginator("list_executions")
    for page in paginator.paginate(**kwargs):
        runs.extend(page["executions"])
        if len(runs) >= limit:
            break
    runs = sorted(runs, key=lambda r: r["startDate"], reverse=True)[:limit]
    models = set(ModelRegistry(target.client("ssm"), target.name).model_names())
    rows = [
        {
            "name": r["name"],
            "status": r["status"],
            "started": iso(r.get("startDate")),
            "stopped": iso(r.get("stopDate")),
            "model": r["name"] in models,
        }
        for r in runs
    ]
    if scope.json:
        print_json(rows)
        return
    if not rows:
        say(f"No runs in environment {target.name!r}.")
        return
    columns = [
        Col("name", fold=True),
        Col("status"),
        Col("started"),
        Col("stopped", drop=2),
        Col("model", drop=1),
    ]
    cells = [
        [
            shown(row["name"]),
            row["status"],
            short_time(row["started"]),
            short_time(row["stopped"]),
            "yes" if row["model"] else "-",
        ]
        for row in rows
    ]
    console.print(fitted_table(columns, cells, console=console))


@app.command("stop")
@scoped
def stop(
    name: Annotated[str, typer.Argument(help="The run to stop.")],
    reason: Annotated[
        str, typer.Option(help="Why; recorded as the execution's cause.")
    ] = "stopped with rft train stop",
    yes: YesOption = False,
    *,
    scope: Scope,
) -> None:
    """Stop a running run; the workflow's clean-up stops its training job. Asks first unless --yes.

    Example: rft train stop gsm8k-v1 --env staging --reason "wrong data"
    """
    target = scope.environment()
    run = read_run(target, name)
    if run.finished:
        raise RftError(f"Run {name!r} already ended ({run.status}); nothing to stop.")
    confirm(f"Stop run {name!r} in environment {target.name!r} ({describe_plain(run)})?", yes=yes)
    stopped = target.client("stepfunctions").stop_execution(
        executionArn=execution_arn(target.state_machine_arn, name),
        error="StoppedByUser",
        cause=reason[:32768],
    )
    if scope.json:
        print_json({"name": name, "stopped": iso(stopped.get("stopDate")), "reason": reason})
        return
    say(shown(f"Stopped run {name!r} in environment {target.name!r}."))
