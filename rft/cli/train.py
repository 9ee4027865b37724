"""`rft train`: start, watch, list and stop runs of the environment's training workflow.

A run is one Step Functions execution named after the run; its input is the job request
(``rft.jobs.JobRequest.to_dict()``). ``watch`` reads everything from the execution (status, the
state it is in, the failure cause), the job status the workflow last saw (from the state outputs in
the execution history), and the per-step training metrics the workflow writes as JSON lines to the
artifacts bucket (Mantle jobs), or, while that file does not exist yet, from the Mantle events API.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from rft import catalog, hyperparameters
from rft.aws import parse_s3_uri
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
from rft.errors import RftError, UnknownBaseModelError
from rft.jobs import NAME_PATTERN, JobRequest
from rft.mantle import REWARD_METRIC, parse_metrics_event
from rft.registry import ModelRegistry

app = typer.Typer(
    help="Start, watch, list and stop training runs.\n\nExample: rft train list --env staging",
    no_args_is_help=True,
)

TERMINAL = ("SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED")
# Where the workflow writes a run's metrics when the history does not say (rft.jobs.plan_job).
DEFAULT_ARTIFACTS_PREFIX = "jobs"


class RunNameTakenError(RftError):
    """A run of that name already exists (Step Functions keeps execution names for 90 days)."""


class UnknownRunError(RftError):
    """No run of that name in the environment."""


# --- start ------------------------------------------------------------------------------------


def execution_arn(state_machine_arn: str, name: str) -> str:
    """``arn:...:stateMachine:<sm>`` + run name -> ``arn:...:execution:<sm>:<name>``."""
    parts = state_machine_arn.split(":")
    if len(parts) < 7 or parts[5] != "stateMachine":
        raise RftError(f"{state_machine_arn!r} is not a state machine ARN.")
    return ":".join([*parts[:5], "execution", parts[6], name])


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


@dataclass
class RunStatus:
    name: str
    status: str  # the execution's: RUNNING, SUCCEEDED, FAILED, TIMED_OUT, ABORTED
    step: str | None  # the workflow state entered last
    provider: str | None
    base_model: str | None
    reward: str | None
    started: str | None
    stopped: str | None
    job_status: str | None = None
    job_id: str | None = None
    current_step: int | None = None
    total_steps: int | None = None
    mean_reward: float | None = None
    metrics: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None
    cause: str | None = None
    model: dict[str, Any] | None = None  # the model record, once published

    @property
    def finished(self) -> bool:
        return self.status in TERMINAL

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["finished"] = self.finished
        return data


def read_run(target: Environment, name: str, *, live_metrics: bool = True) -> RunStatus:
    from botocore.exceptions import ClientError

    sfn = target.client("stepfunctions")
    arn = execution_arn(target.state_machine_arn, name)
    try:
        execution = sfn.describe_execution(executionArn=arn)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ExecutionDoesNotExist":
            raise UnknownRunError(
                f"No run named {name!r} in environment {target.name!r}; 'rft train list --env {target.name}' "
                "shows the runs."
            ) from None
        raise
    events = sfn.get_execution_history(executionArn=arn, reverseOrder=True, maxResults=200)["events"]
    # Newest first, whatever order the service answered in (event ids increase with time).
    events = sorted(events, key=lambda event: event.get("id", 0), reverse=True)
    request = _json(execution.get("input")) or {}
    provider = None
    with contextlib.suppress(UnknownBaseModelError):
        provider = catalog.get_model(str(request.get("base_model"))).provider
    run = RunStatus(
        name=name,
        status=execution["status"],
        step=_current_state(events),
        provider=provider,
        base_model=request.get("base_model"),
        reward=request.get("reward"),
        started=_iso(execution.get("startDate")),
        stopped=_iso(execution.get("stopDate")),
    )
    run.job_status, run.job_id = _job_from_history(events)
    if run.status != "RUNNING" and run.status != "SUCCEEDED":
        run.error, run.cause = _failure(execution, events)
    metrics = _metrics_from_s3(target, name, events)
    if metrics is None and live_metrics and provider == "mantle" and run.job_id and not run.finished:
        metrics = _metrics_from_mantle(target, run.job_id)
    if metrics:
        last = metrics[-1]
        run.metrics = metrics
        run.current_step = last.get("step")
        run.total_steps = last.get("total_steps")
        rewards = [m[REWARD_METRIC] for m in metrics if isinstance(m.get(REWARD_METRIC), int | float)]
        run.mean_reward = rewards[-1] if rewards else None
    if run.status == "SUCCEEDED":
        record = ModelRegistry(target.client("ssm"), target.name).find_model(name)
        run.model = record.to_dict() if record else None
    return run


def _json(text: Any) -> Any:
    if not isinstance(text, str):
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return None


def _iso(value: Any) -> str | None:
    return value.isoformat(timespec="seconds") if hasattr(value, "isoformat") else None


def _current_state(events: list[dict[str, Any]]) -> str | None:
    for event in events:  # newest first
        details = event.get("stateEnteredEventDetails")
        if details:
            return details.get("name")
    return None


def _outputs(events: list[dict[str, Any]]) -> Iterator[Any]:
    """The workflow's state document as each state left it, newest first."""
    for event in events:
        details = event.get("stateExitedEventDetails")
        if details and "output" in details:
            parsed = _json(details["output"])
            if parsed is not None:
                yield parsed


def _walk(value: Any) -> Iterator[Mapping[str, Any]]:
    if isinstance(value, Mapping):
        yield value
        for item in value.values():
            yield from _walk(item)
    elif isinstance(value, list):
        for item in value:
            yield from _walk(item)


# Where the workflow keeps the job in its state (stacks/constructs/training_workflow.py): the latest
# status check of either plane, then what the start step returned.
JOB_STATE_KEYS = (
    ("mantle_job", "status", "id"),
    ("bedrock_job", "Status", "JobArn"),
    ("training", "status", "job_id"),
)


def _job_from_history(events: list[dict[str, Any]]) -> tuple[str | None, str | None]:
    """The job status and id the workflow saw last (newest state output that holds a job)."""
    for output in _outputs(events):
        if not isinstance(output, Mapping):
            continue
        for key, status_key, id_key in JOB_STATE_KEYS:
            job = output.get(key)
            if isinstance(job, Mapping) and (job.get(status_key) or job.get(id_key)):
                status = job.get(status_key)
                return (str(status) if status else None), (str(job[id_key]) if job.get(id_key) else None)
    return None, None


def _find_string(events: list[dict[str, Any]], key: str) -> str | None:
    for output in _outputs(events):
        for obj in _walk(output):
            if isinstance(obj.get(key), str):
                return obj[key]
    return None


def _failure(execution: Mapping[str, Any], events: list[dict[str, Any]]) -> tuple[str | None, str | None]:
    error, cause = execution.get("error"), execution.get("cause")
    if not error and not cause:
        for event in events:
            for key in (
                "executionFailedEventDetails",
                "executionAbortedEventDetails",
                "executionTimedOutEventDetails",
            ):
                details = event.get(key)
                if details:
                    error, cause = details.get("error"), details.get("cause")
                    break
            if error or cause:
                break
    return error, readable_cause(cause)


def readable_cause(cause: Any) -> str | None:
    """A Step Functions cause as a sentence: Lambda errors arrive as JSON with errorMessage."""
    if not cause:
        return None
    parsed = _json(cause)
    if isinstance(parsed, Mapping):
        for key in ("errorMessage", "message", "Message", "cause", "Cause"):
            if isinstance(parsed.get(key), str) and parsed[key]:
                return readable_cause(parsed[key]) or parsed[key]
    return " ".join(str(cause).split())


def metrics_uri(target: Environment, name: str, events: list[dict[str, Any]]) -> str:
    return _find_string(events, "metrics_s3_uri") or (
        f"s3://{target.artifacts_bucket}/{DEFAULT_ARTIFACTS_PREFIX}/{name}/metrics.jsonl"
    )


def _metrics_from_s3(
    target: Environment, name: str, events: list[dict[str, Any]]
) -> list[dict[str, Any]] | None:
    from botocore.exceptions import ClientError

    location = parse_s3_uri(metrics_uri(target, name, events))
    try:
        body = target.client("s3").get_object(Bucket=location.bucket, Key=location.key)["Body"]
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404", "NotFound"):
            return None
        raise
    with body:
        lines = body.read().decode("utf-8", errors="replace").splitlines()
    return parse_metrics_lines(lines)


def parse_metrics_lines(lines: Iterable[str]) -> list[dict[str, Any]]:
    """Metrics JSON lines -> one dict per step (the last line of a step wins), by step."""
    by_step: dict[int, dict[str, Any]] = {}
    for line in lines:
        metrics = parse_metrics_event({"data": _json(line)})
        if metrics is not None:
            by_step[metrics.step] = metrics.to_dict()
    return [by_step[step] for step in sorted(by_step)]


def _metrics_from_mantle(target: Environment, job_id: str) -> list[dict[str, Any]] | None:
    from rft.cli.inference import mantle_openai
    from rft.mantle import list_step_metrics

    try:
        return [m.to_dict() for m in list_step_metrics(mantle_openai(target, None), job_id)]
    except RftError as exc:  # live metrics are a bonus: the run's status does not depend on them
        warn(f"could not read live metrics from Mantle: {exc}")
        return None


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
    run = read_run(target, name)
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
                run = read_run(target, name)
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
        if status.upper() not in ("RUNNING", *TERMINAL):
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
            "started": _iso(r.get("startDate")),
            "stopped": _iso(r.get("stopDate")),
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
    run = read_run(target, name, live_metrics=False)
    if run.finished:
        raise RftError(f"Run {name!r} already ended ({run.status}); nothing to stop.")
    stopped = target.client("stepfunctions").stop_execution(
        executionArn=execution_arn(target.state_machine_arn, name),
        error="StoppedByUser",
        cause=reason[:32768],
    )
    if json_output:
        print_json({"name": name, "stopped": _iso(stopped.get("stopDate")), "reason": reason})
        return
    say(f"Stopped run {name!r} in {target.name!r}.")
