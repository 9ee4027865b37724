"""Step 1, `Validate request`: the request and its datasets, before anything is spent.

Event (built by the state machine)::

    {"request": <the execution input>, "execution_name": ..., "execution_arn": ..., "started_at": ...}

Returns ``{"valid": true, "plan", "dataset", "watch"}`` (the state the rest of the workflow reads), or
``{"valid": false, "error", "cause", "problems", "total"}`` when the request or a dataset breaks a
rule: ``cause`` lists the first problems with their field and line number. Bad input is an answer,
not an exception; an exception means the step itself failed (S3 unreachable, a bug).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from lambda_workflow import common
from rft import catalog, datasets, job_plan, jobs, names, recipes
from rft.errors import Problem, RftError, ValidationError
from rft.names import VERSION_VARIABLE

# How many problems the failure message lists (all are counted).
LISTED_PROBLEMS = 10
# Step Functions fails a task whose result is over 256 KiB with States.DataLimitExceeded, a terminal
# error that a Catch on States.ALL does not catch ("This is a terminal error that can't be caught by
# the States.ALL error type": docs.aws.amazon.com/step-functions/latest/dg/concepts-error-handling.html),
# so the run would fail without its failure notification. Every answer stays far below it.
MAX_ANSWER_BYTES = 32 * 1024


def handler(event: dict[str, Any], context: object = None) -> dict[str, Any]:
    settings = common.workflow_settings()
    request = event.get("request")
    try:
        job = job_plan.validate_request(request, settings)
    except ValidationError as exc:
        return rejected("RequestInvalid", exc)
    except RftError as exc:  # a rule that raised its own error: still an answer, never a crash
        return rejected("RequestInvalid", ValidationError("The job request", [Problem(None, "", str(exc))]))
    problems = list(environment_problems(job, event.get("execution_name"), common.allowed_base_models()))
    problems += alias_problems(job.name, settings.environment)
    if problems:
        return rejected("RequestInvalid", ValidationError("The job request", problems))

    s3 = common.client("s3")
    reports: dict[str, datasets.DatasetReport] = {}
    for field, uri, limits in (
        ("training_data", job.training_data, datasets.DEFAULT_LIMITS),
        ("validation_data", job.validation_data, job_plan.VALIDATION_DATA_LIMITS),
    ):
        if not uri:
            continue
        try:
            report = job_plan.read_dataset(s3, field, uri, limits)
        except ValidationError as exc:  # the file cannot be read: an answer, not a crash
            return rejected("DatasetUnreadable", exc)
        if not report.ok:
            return rejected(
                "DatasetInvalid",
                ValidationError(f"The {field} file {uri}", report.problems, report.problem_count),
                summary=report.summary(),
            )
        reports[field] = report

    plan = job_plan.plan_job(job, settings)
    plan["recipe"] = recipes.pin(
        plan,
        job.to_dict(),
        s3=s3,
        lambda_client=common.client("lambda"),
        version=os.environ.get(VERSION_VARIABLE, "unknown"),
        digests={
            field: digest
            for field, report in reports.items()
            if (digest := recipes.report_digest(report)) is not None
        },
    )
    started = common.parse_time(event.get("started_at")) or datetime.now(UTC)
    deadline = started + timedelta(seconds=job.watch.time_limit_seconds)
    training = reports["training_data"]
    common.logger.info(
        "request valid",
        extra={"run": job.name, "provider": plan["provider"], "prompts": training.prompts},
    )
    return {
        "valid": True,
        "plan": plan,
        "dataset": {field: {"prompts": r.prompts, "bytes": r.bytes} for field, r in reports.items()},
        "watch": {
            "wait_seconds": job.watch.first_wait_seconds,
            "max_wait_seconds": job.watch.max_wait_seconds,
            "deadline": common.iso(deadline),
        },
    }


def environment_problems(
    job: jobs.JobRequest, execution_name: object, allowed_models: Iterable[str]
) -> Iterable[Problem]:
    """Rules of this deployment that the request alone cannot know."""
    allowed = tuple(allowed_models)
    if allowed and job.base_model not in {catalog.canonical_model_id(model) for model in allowed}:
        yield Problem(
            None,
            "base_model",
            f"{job.base_model!r} is not enabled in this environment "
            f"(allowed_base_models: {', '.join(allowed)})",
        )
    if execution_name is not None and execution_name != job.name:
        yield Problem(
            None,
            "name",
            f"{job.name!r} must also be the execution name (this execution is {execution_name!r}); "
            "start the run with `rft train start`, which uses the name for both",
        )


def alias_problems(name: str, environment: str) -> list[Problem]:
    """A run may not take the name of an alias: the gateway resolves a name as an alias first, so the
    run's model would be unreachable by its own name and callers asking for it would get the alias's
    target (one GetParameter; the CLI checks the same before starting)."""
    try:
        common.client("ssm").get_parameter(Name=names.parameter_path(environment, names.ALIASES, name))
    except ClientError as exc:
        if str(exc.response.get("Error", {}).get("Code", "")) == "ParameterNotFound":
            return []
        raise  # throttling, access: the step's Retry handles it, or the run fails loudly
    return [
        Problem(
            None,
            "name",
            f"{name!r} is an alias in this environment; choose another run name "
            "(the gateway would serve the alias's target under this name)",
        )
    ]


def rejected(error: str, exc: ValidationError, *, summary: str | None = None) -> dict[str, Any]:
    """The answer for a bad request: at most MAX_ANSWER_BYTES whatever the input, since each
    Problem is bounded (rft.errors), at most LISTED_PROBLEMS are listed, and a URI in ``what`` was
    checked to be at most 1,024 characters before any dataset was read."""
    listed = exc.problems[:LISTED_PROBLEMS]
    lines = [str(exc)]
    if summary:
        lines.append(summary)
    if exc.total > 1:
        lines.extend(f"- {problem}" for problem in listed)
    if exc.total > len(listed):
        lines.append(f"(and {exc.total - len(listed):,} more)")
    common.logger.info("request rejected", extra={"error": error, "problems": exc.total})
    return {
        "valid": False,
        "error": error,
        "cause": "\n".join(lines),
        "problems": [problem.to_dict() for problem in listed],
        "total": exc.total,
    }
