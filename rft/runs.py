"""A training run as the client sees it: one execution of the environment's workflow, named after
the run, read back from the execution, its history (`rft.workflow_state`), the metrics file the
workflow writes to the artifacts bucket and, once published, the model record.

The CLI presents a `RunStatus`; nothing here prints.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from rft import catalog
from rft.aws import parse_s3_uri
from rft.environment import Environment
from rft.errors import RftError, UnknownBaseModelError
from rft.mantle_metrics import REWARD_METRIC, parse_metrics_event
from rft.names import ARTIFACTS_PREFIX
from rft.registry import ModelRegistry
from rft.workflow_state import ExecutionHistory, parse_json, readable_cause

# Step Functions' execution statuses that end a run.
TERMINAL = ("SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED")
STATUSES = ("RUNNING", *TERMINAL)
# The newest history events a status read looks at: the state entered last, the job's last status
# check and the failure are all among them (one page of GetExecutionHistory).
STATUS_EVENTS = 200

# Reads a Mantle job's step metrics while it runs (the client's own Mantle connection).
LiveMetrics = Callable[[str], list[dict[str, Any]] | None]


class UnknownRunError(RftError):
    """No run of that name in the environment."""


def execution_arn(state_machine_arn: str, name: str) -> str:
    """``arn:...:stateMachine:<sm>`` + run name -> ``arn:...:execution:<sm>:<name>``."""
    parts = state_machine_arn.split(":")
    if len(parts) < 7 or parts[5] != "stateMachine":
        raise RftError(f"{state_machine_arn!r} is not a state machine ARN.")
    return ":".join([*parts[:5], "execution", parts[6], name])


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
    # The workflow's health guard at its last look (rft.workflow_state.Guard): verdict, codes sent.
    guard_verdict: str | None = None
    guard_findings: list[str] = field(default_factory=list)

    @property
    def finished(self) -> bool:
        return self.status in TERMINAL

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["finished"] = self.finished
        return data


def describe_execution(target: Environment, name: str) -> dict[str, Any]:
    from botocore.exceptions import ClientError

    try:
        description: dict[str, Any] = target.client("stepfunctions").describe_execution(
            executionArn=execution_arn(target.state_machine_arn, name)
        )
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ExecutionDoesNotExist":
            raise UnknownRunError(
                f"No run named {name!r} in environment {target.name!r}; 'rft train list --env {target.name}' "
                "shows the runs."
            ) from None
        raise
    return description


def read_run(target: Environment, name: str, *, live_metrics: LiveMetrics | None = None) -> RunStatus:
    """The run's state now. `live_metrics` is asked for a running Mantle job's metrics while the
    workflow has not written them to the artifacts bucket yet."""
    execution = describe_execution(target, name)
    history = ExecutionHistory.read(
        target.client("stepfunctions"),
        execution_arn(target.state_machine_arn, name),
        max_events=STATUS_EVENTS,
    )
    request = parse_json(execution.get("input")) or {}
    provider = None
    with contextlib.suppress(UnknownBaseModelError):
        provider = catalog.get_model(str(request.get("base_model"))).provider
    run = RunStatus(
        name=name,
        status=execution["status"],
        step=history.current_state(),
        provider=provider,
        base_model=request.get("base_model"),
        reward=request.get("reward"),
        started=iso(execution.get("startDate")),
        stopped=iso(execution.get("stopDate")),
    )
    guard = history.latest("guard")
    if isinstance(guard, dict) and guard.get("verdict"):
        run.guard_verdict = str(guard["verdict"])
        run.guard_findings = [str(code) for code in guard.get("sent") or []]
    seen = history.job()
    if seen is not None:
        run.job_status, run.job_id = seen.status, seen.job_id
    if run.status not in ("RUNNING", "SUCCEEDED"):
        run.error, run.cause = _failure(execution, history)
    metrics = _metrics_from_s3(target, metrics_uri(target, name, history))
    if metrics is None and live_metrics and provider == "mantle" and run.job_id and not run.finished:
        metrics = live_metrics(run.job_id)
    if metrics:
        _add_metrics(run, metrics)
    if run.status == "SUCCEEDED":
        record = ModelRegistry(target.client("ssm"), target.name).find_model(name)
        run.model = record.to_dict() if record else None
    return run


def _add_metrics(run: RunStatus, metrics: list[dict[str, Any]]) -> None:
    last = metrics[-1]
    run.metrics = metrics
    run.current_step = last.get("step")
    run.total_steps = last.get("total_steps")
    rewards = [m[REWARD_METRIC] for m in metrics if isinstance(m.get(REWARD_METRIC), int | float)]
    run.mean_reward = rewards[-1] if rewards else None


def iso(value: Any) -> str | None:
    return value.isoformat(timespec="seconds") if hasattr(value, "isoformat") else None


def _failure(execution: dict[str, Any], history: ExecutionHistory) -> tuple[str | None, str | None]:
    error, cause = execution.get("error"), execution.get("cause")
    if not error and not cause:
        error, cause = history.ending()
    return error, readable_cause(cause)


def metrics_uri(target: Environment, name: str, history: ExecutionHistory) -> str:
    return history.find_string("metrics_s3_uri") or (
        f"s3://{target.artifacts_bucket}/{ARTIFACTS_PREFIX}/{name}/metrics.jsonl"
    )


def _metrics_from_s3(target: Environment, uri: str) -> list[dict[str, Any]] | None:
    from botocore.exceptions import ClientError

    location = parse_s3_uri(uri)
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
        metrics = parse_metrics_event({"data": parse_json(line)})
        if metrics is not None:
            by_step[metrics.step] = metrics.to_dict()
    return [by_step[step] for step in sorted(by_step)]
