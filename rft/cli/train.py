"""`rft train`: start, watch, list and stop runs of the environment's training workflow.

A run is one Step Functions execution named after the run; its input is the job request
(``rft.jobs.JobRequest.to_dict()``). ``watch`` presents what ``rft.runs.read_run`` reads from the
execution (status, the state it is in, the failure cause, the job status the workflow last saw, the
per-step training metrics); while a Mantle job's metrics file does not exist yet, the client asks
the Mantle events API itself.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from rft import hyperparameters
from rft.cli.common import (
    DEFAULT_ENVIRONMENT,
    EnvOption,
    JsonOption,
    ProfileOption,
    RegionOption,
    console,
    environment,
    print_json,
    say,
    warn,
)
from rft.cli.errors import EXIT_CHECK_FAILED
from rft.environment import Environment
from rft.errors import RftError
from rft.jobs import NAME_PATTERN, JobRequest
from rft.registry import ModelRegistry
from rft.runs import STATUSES, LiveMetrics, RunStatus, execution_arn, iso, read_run

app = typer.Typer(
    help="Start, watch, list and stop training runs.\n\nExample: rft train list --env staging",
    no_args_is_help=True,
)


class RunNameTakenError(RftError):
    """A run of that name already exists (Step Functions keeps execution names for 90 days)."""


# --- start ------------------------------------------------------------------------------------


def parse_hyperparameter_options(values: Iterable[str]) -> dict[str, Any]:
    """Each value is a JSON file of hyperparameters or a ``name=value``; later ones win."""
    merged: dict[str, Any] = {}
    assignments: list[str] = []
    for value in values:
        if "=" not in value and Path(value).is_file():
            merged.update(hyperparameters.load_file(value))
        elif "=" not in value:
            raise RftError(
                f"--hyperparameters {value!r} is neither a file nor name=value (e.g. epochCount=3)."
            )
        else:
            assignments.append(value)
    merged.update(hyperparameters.parse_assignments(assignments))
    return merged


def parse_tags(values: Iterable[str]) -> dict[str, str]:
    tags = {}
    for value in values:
        key, sep, tag_value = value.partition("=")
        if not sep or not key.strip():
            raise RftError(f"--tag {value!r} is not key=value.")
        tags[key.strip()] = tag_value.strip()
    return tags


def _existing_run(target: Environment, name: str) -> dict[str, Any] | None:
    from botocore.exceptions import ClientError

    try:
        return target.client("stepfunctions").describe_execution(
            executionArn=execution_arn(target.state_machine_arn, name)
        )
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ExecutionDoesNotExist":
            return None
        raise


def _check_name_is_free(target: Environment, name: str) -> None:
    existing = _existing_run(target, name)
    if existing is not None:
        raise _taken(
            target, name, f"ran ({existing['status']}, started {existing['startDate']:%Y-%m-%d %H:%M})"
        )
    if ModelRegistry(target.client("ssm"), target.name).find_model(name) is not None:
        raise _taken(target, name, "names a trained model")


def _taken(target: Environment, name: str, how: str) -> RunNameTakenError:
    return RunNameTakenError(
        f"A run named {name!r} already {how} in environment {target.name!r}; "
        "each run needs a new name (it also names the job and the model): choose another --name."
    )


@app.command("start")
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
        float | None, typer.Option(min=0.1, max=720, help="Stop the job after this many hours (default 72).")
    ] = None,
    tag: Annotated[
        list[str] | None, typer.Option("--tag", help="key=value tag on the job and model.")
    ] = None,
    watch_run: Annotated[bool, typer.Option("--watch", help="Watch the run after starting it.")] = False,
    env: EnvOption = DEFAULT_ENVIRONMENT,
    region: RegionOption = None,
    profile: ProfileOption = None,
    json_output: JsonOption = False,
) -> None:
    """Start a training run: validate the request here, then start the environment's workflow.

    Example: rft train start --env staging --name gsm8k-v1 --base-model openai.gpt-oss-20b
    --data s3://BUCKET/datasets/train-0123abcd.jsonl --reward math_answer -p epochCount=2
    """
    target = environment(env, region, profile)
    if NAME_PATTERN.fullmatch(name):  # a bad name is reported with the request's other problems
        _check_name_is_free(target, name)
    request_data: dict[str, Any] = {
        "name": name,
        "base_model": base_model,
        "training_data": _dataset_uri(target, data),
        "reward": reward,
        "serve": serve,
    }
    if validation_data:
        request_data["validation_data"] = _dataset_uri(target, validation_data)
    if hyperparameter:
        request_data["hyperparameters"] = parse_hyperparameter_options(hyperparameter)
    if time_limit_hours is not None:
        request_data["time_limit_seconds"] = round(time_limit_hours * 3600)
    if tag:
        request_data["tags"] = parse_tags(tag)
    request = JobRequest.from_dict(
        request_data,
        region=target.region,
        datasets_bucket=target.datasets_bucket,
        rewards=target.graders().keys(),
    )
    from botocore.exceptions import ClientError

    try:
        started = target.client("stepfunctions").start_execution(
            stateMachineArn=target.state_machine_arn, name=request.name, input=json.dumps(request.to_dict())
        )
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ExecutionAlreadyExists":
            raise _taken(target, request.name, "ran") from None
        raise
    result = {"name": request.name, "execution_arn": started["executionArn"], "request": request.to_dict()}
    if json_output and not watch_run:
        print_json(result)
        return
    model = request.model.display_name
    say(f"Started run {request.name!r} in {target.name!r} ({model}, reward {request.reward}).")
    say(f"Follow it with: rft train watch {request.name} --env {target.name}")
    if watch_run:
        raise typer.Exit(_watch(target, request.name, interval=30.0, json_output=json_output))
    typer.echo(started["executionArn"])


def _dataset_uri(target: Environment, value: str) -> str:
    if value.startswith("s3://"):
        return value
    path = Path(value)
    if not path.is_file():
        raise RftError(f"Training data {value!r} is neither an s3:// URI nor a file.")
    from rft.cli.data import checked_for_upload, upload_dataset

    checked_for_upload(path)
    result = upload_dataset(target, path)
    say(f"Uploaded {path} to {result['uri']}.")
    return str(result["uri"])


# --- the state of a run -------------------------------------------------------------------------


def _live_metrics(target: Environment) -> LiveMetrics:
    """A running Mantle job's step metrics, read with the client's own Mantle connection."""

    def read(job_id: str) -> list[dict[str, Any]] | None:
        from rft.cli.inference import mantle_openai
        from rft.mantle import list_step_metrics

        try:
            return [m.to_dict() for m in list_step_metrics(mantle_openai(target, None), job_id)]
        except RftError as exc:  # live metrics are a bonus: the run's status does not depend on them
            warn(f"could not read live metrics from Mantle: {exc}")
            return None

    return read


# --- watch --------------------------------------------------------------------------------------


def describe_run(run: RunStatus) -> str:
    parts = [f"[bold]{escape(run.step or 'starting')}[/]"]
    if run.job_status:
        parts.append(f"job {escape(run.job_status)}")
    if run.current_step is not None:
        total = f"/{run.total_steps}" if run.total_steps else ""
        parts.append(f"step {run.current_step}{total}")
    if run.mean_reward is not None:
        parts.append(f"mean reward {run.mean_reward:.3f}")
    return " · ".join(parts)


def _watch(target: Environment, name: str, *, interval: float, json_output: bool, once: bool = False) -> int:
    run = read_run(target, name, live_metrics=_live_metrics(target))
    if not (once or run.finished):
        progress = Progress(
            TextColumn("{task.fields[run]}"),
            BarColumn(),
            TextColumn("{task.description}"),
            TimeElapsedColumn(),
            console=console if not json_output else None,
            transient=False,
            disable=json_output,
        )
        with progress:
            task = progress.add_task(describe_run(run), total=run.total_steps, run=escape(name))
            while not run.finished:
                progress.update(
                    task,
                    description=describe_run(run),
                    total=run.total_steps,
                    completed=run.current_step or 0,
                )
                time.sleep(interval)
                run = read_run(target, name, live_metrics=_live_metrics(target))
            progress.update(task, description=describe_run(run), completed=run.current_step or 0)
    if json_output:
        print_json(run.to_dict())
    else:
        _print_run(run)
    if run.status in ("FAILED", "TIMED_OUT", "ABORTED"):
        return EXIT_CHECK_FAILED
    return 0


def _print_run(run: RunStatus) -> None:
    colour = {"SUCCEEDED": "green", "RUNNING": "cyan"}.get(run.status, "red")
    console.print(
        f"Run [bold]{escape(run.name)}[/]: [{colour}]{run.status}[/] · {describe_run(run)}", soft_wrap=True
    )
    if run.status in ("FAILED", "TIMED_OUT", "ABORTED"):
        what = run.cause or run.error or "no cause recorded"
        console.print(
            f"[red]The run {run.status.lower().replace('_', ' ')}:[/] {escape(what)}"
            + (f" ({escape(run.error)})" if run.error and run.cause else ""),
            soft_wrap=True,
        )
    if run.model:
        console.print(
            f"Model [bold]{escape(run.model['name'])}[/] is {run.model['status']}: "
            f"{escape(run.model['model_id'])} ({run.model['provider']}). "
            f'Try: rft chat {escape(run.model["name"])} "..."',
            soft_wrap=True,
        )


@app.command("watch")
def watch(
    name: Annotated[str, typer.Argument(help="The run's name.")],
    interval: Annotated[float, typer.Option(min=0.0, help="Seconds between checks.")] = 30.0,
    once: Annotated[bool, typer.Option("--once", help="Print the current state once and exit.")] = False,
    env: EnvOption = DEFAULT_ENVIRONMENT,
    region: RegionOption = None,
    profile: ProfileOption = None,
    json_output: JsonOption = False,
) -> None:
    """Follow a run to its end: workflow step, job status and, for Mantle jobs, step n/total with the
    current mean reward. Exits 1 (printing the cause) if the run fails, times out or is stopped.

    Example: rft train watch gsm8k-v1 --env staging
    """
    code = _watch(
        environment(env, region, profile), name, interval=interval, json_output=json_output, once=once
    )
    if code:
        raise typer.Exit(code)


# --- list and stop ------------------------------------------------------------------------------


@app.command("list")
def list_runs(
    status: Annotated[
        str | None,
        typer.Option(help="Only runs in this state (RUNNING, SUCCEEDED, FAILED, TIMED_OUT, ABORTED)."),
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="Most runs to show, newest first.")] = 20,
    env: EnvOption = DEFAULT_ENVIRONMENT,
    region: RegionOption = None,
    profile: ProfileOption = None,
    json_output: JsonOption = False,
) -> None:
    """The environment's runs, newest first, and whether each published a model.

    Example: rft train list --env staging --status RUNNING
    """
    target = environment(env, region, profile)
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
    if json_output:
        print_json(rows)
        return
    if not rows:
        say(f"No runs in environment {target.name!r}.")
        return
    table = Table("name", "status", "started", "stopped", "model")
    for row in rows:
        table.add_row(
            escape(row["name"]),
            row["status"],
            row["started"] or "",
            row["stopped"] or "-",
            "yes" if row["model"] else "-",
        )
    console.print(table)


@app.command("stop")
def stop(
    name: Annotated[str, typer.Argument(help="The run to stop.")],
    reason: Annotated[
        str, typer.Option(help="Why; recorded as the execution's cause.")
    ] = "stopped with rft train stop",
    env: EnvOption = DEFAULT_ENVIRONMENT,
    region: RegionOption = None,
    profile: ProfileOption = None,
    json_output: JsonOption = False,
) -> None:
    """Stop a running run; the workflow's clean-up stops its training job.

    Example: rft train stop gsm8k-v1 --env staging --reason "wrong data"
    """
    target = environment(env, region, profile)
    run = read_run(target, name)
    if run.finished:
        raise RftError(f"Run {name!r} already ended ({run.status}); nothing to stop.")
    stopped = target.client("stepfunctions").stop_execution(
        executionArn=execution_arn(target.state_machine_arn, name),
        error="StoppedByUser",
        cause=reason[:32768],
    )
    if json_output:
        print_json({"name": name, "stopped": iso(stopped.get("stopDate")), "reason": reason})
        return
    say(f"Stopped run {name!r} in {target.name!r}.")
