"""`rft train`: start, watch, list and stop runs of the environment's training workflow.

A run is one Step Functions execution named after the run; its input is the job request
(``rft.jobs.JobRequest.to_dict()``). ``watch`` presents, through ``rft.cli.train_watch``, what
``rft.runs.read_run`` reads from the execution (status, the state it is in, the failure cause, the
job status the workflow last saw, the per-step training metrics); while a Mantle job's metrics file
does not exist yet, the client asks the Mantle events API itself.
"""

from __future__ import annotations

import json
import math
from typing import Annotated, Any

import typer

from rft.cli import start_checks
from rft.cli.common import Scope, YesOption, confirm, console, err_console, print_json, say, scoped, shown
from rft.cli.render import Col, fitted_table, short_time
from rft.cli.train_watch import describe_plain, follow
from rft.environment import Environment
from rft.errors import Problem, RftError, ValidationError
from rft.jobs import JobRequest
from rft.registry import ModelRegistry
from rft.runs import STATUSES, execution_arn, iso, read_run

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


def check_name_is_free(target: Environment, name: str) -> None:
    """Refuse (RunNameTakenError) a run name the environment has used for a run, a model or an alias."""
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
    job = start_checks.check_environment(request, target, name_check=check_name_is_free)
    _refuse_if_any(request.problems)
    assert job is not None  # no problems: the request
    if dry_run:
        _say_dry_run(target, job, request, json_output=scope.json)
        return
    for path in request.local_files.values():
        from rft.cli.data import upload_dataset

        uploaded = upload_dataset(target, path)
        say(f"Uploaded {shown(path)} to {shown(uploaded['uri'])}.")
    started = start_execution(target, job)
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
        raise typer.Exit(follow(target, job.name, interval=interval, json_output=scope.json))
    typer.echo(started["executionArn"])


def _refuse_if_any(problems: list[Problem]) -> None:
    """Every problem on stderr, then the one-sentence error (exit 1): nothing was uploaded or started."""
    if not problems:
        return
    if len(problems) > 1:
        for problem in problems:
            err_console.print(f"  {shown(problem)}")
    raise ValidationError("The run request (nothing uploaded or started)", problems)


def _say_dry_run(
    target: Environment, job: JobRequest, request: start_checks.StartRequest, *, json_output: bool
) -> None:
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


def start_execution(target: Environment, job: JobRequest) -> dict[str, Any]:
    """Start the environment's workflow with ``job``; a name taken meanwhile is RunNameTakenError."""
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
    code = follow(scope.environment(), name, interval=interval, json_output=scope.json, once=once)
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
