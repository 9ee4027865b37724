"""`rft eval`: the trained model against its base model on held-out prompts, with the same grader.

The statistics, the report and the plot are rft.evaluation's; this module samples both models,
writes the report where asked (the artifacts bucket by default) and records the evaluation summary
in the registry, where `rft models promote` reads it.
"""

from __future__ import annotations

import json
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from rft import datasets, evaluation, evaluation_plot
from rft.aws import parse_s3_uri
from rft.cli import files, inference
from rft.cli.common import Scope, console, print_json, say, scoped, shown
from rft.cli.reward import prompt_of, read_records
from rft.environment import Environment
from rft.errors import RftError, ValidationError
from rft.records import EvaluationSummary
from rft.registry import ModelRegistry

REPORT_NAME = "report.json"
PLOT_NAME = "scores.png"
EVALUATIONS_PREFIX = "evaluations"


@scoped
def evaluate(
    name: Annotated[str, typer.Argument(help="The trained model's name (or an alias).")],
    data: Annotated[
        str, typer.Option("--data", "-d", help="Held-out prompts: a JSONL file or an s3:// URI.")
    ],
    reward: Annotated[str, typer.Option("--reward", "-r", help="The grader that scores both models.")],
    limit: Annotated[int | None, typer.Option(min=1, help="Use the first N prompts (default: all).")] = None,
    samples_per_prompt: Annotated[
        int, typer.Option("--samples-per-prompt", "-k", min=1, max=16, help="Answers per prompt and model.")
    ] = 1,
    temperature: Annotated[float, typer.Option(min=0.0, max=2.0, help="Sampling temperature.")] = 0.0,
    max_tokens: Annotated[int, typer.Option(min=1, help="Most tokens per answer.")] = 1024,
    concurrency: Annotated[int, typer.Option(min=1, max=64, help="Parallel model calls.")] = 4,
    base_model: Annotated[
        str | None, typer.Option(help="Compare with this model instead of the record's base model.")
    ] = None,
    output: Annotated[
        str | None,
        typer.Option(
            "--output",
            "-o",
            help="A folder or s3:// prefix for report.json and scores.png "
            "(default: s3://ARTIFACTS/evaluations/NAME/TIMESTAMP/).",
        ),
    ] = None,
    record: Annotated[
        bool, typer.Option("--record/--no-record", help="Store the summary in the registry (for promote).")
    ] = True,
    force: Annotated[bool, typer.Option("--force", help="Overwrite a local report and plot.")] = False,
    *,
    scope: Scope,
) -> None:
    """Score a trained model and its base model on held-out prompts with the same grader; print
    both means and the difference with a 95% confidence interval (paired bootstrap over prompts),
    write a JSON report and a PNG plot of the score distributions, and record the evaluation so
    'rft models promote' can use it.

    Example: rft eval gsm8k-v1 --data heldout.jsonl --reward math_answer --env staging
    """
    if output and not output.startswith("s3://"):  # refuse before any model is called
        for file_name in (REPORT_NAME, PLOT_NAME):
            files.check_target(_join(output, file_name), force=force)
    target = scope.environment()
    registry = ModelRegistry(target.client("ssm"), target.name)
    trained_record = registry.resolve(name)
    trained = inference.for_record(target, trained_record)
    base = inference.for_base_model(target, base_model or trained_record.base_model)
    from rft.preflight import load_handler

    load_handler(reward)  # an unknown reward fails before any model is called

    with tempfile.TemporaryDirectory(prefix="rft-eval-") as folder:
        path = _local_copy(target, data, Path(folder))
        records = _held_out(path, limit)
    sampling = inference.Sampling(max_tokens=max_tokens, temperature=temperature)
    prompts = [prompt_of(r) for r in records]
    say(f"Evaluating {shown(trained.label)} against {shown(base.label)} on {len(records)} prompts.")
    trained_answers = inference.sample_prompts(
        trained,
        prompts,
        n=samples_per_prompt,
        sampling=sampling,
        concurrency=concurrency,
        description="trained",
    )
    base_answers = inference.sample_prompts(
        base, prompts, n=samples_per_prompt, sampling=sampling, concurrency=concurrency, description="base"
    )
    trained_scores, trained_grading = evaluation.grade_responses(reward, records, trained_answers)
    base_scores, base_grading = evaluation.grade_responses(reward, records, base_answers)
    prompt_scores = [
        evaluation.PromptScores(
            task_id=str(r.get("task_id") or r.get("id") or f"line-{i + 1}"), trained=t, base=b
        )
        for i, (r, t, b) in enumerate(zip(records, trained_scores, base_scores, strict=True))
    ]
    report = evaluation.build_report(
        name=trained_record.name,
        environment=target.name,
        reward=reward,
        dataset=data,
        trained_model=trained_record.model_id,
        base_model=base_model or trained_record.base_model,
        samples_per_prompt=samples_per_prompt,
        sampling={"temperature": temperature, "max_tokens": max_tokens},
        prompts=prompt_scores,
        errors=_errors(trained_grading, base_grading),
    )
    location = output or _default_location(target, trained_record.name)
    report["report_uri"] = _join(location, REPORT_NAME)
    report["plot_uri"] = _join(location, PLOT_NAME)
    _write(target, report["report_uri"], json.dumps(report, indent=2).encode(), "application/json")
    _write(target, report["plot_uri"], evaluation_plot.plot_png(report), "image/png")
    if record:
        low, high = report["difference"]["ci95"]
        registry.put_evaluation(
            EvaluationSummary(
                name=trained_record.name,
                reward=reward,
                mean_reward=report["trained"]["mean"],
                samples=report["prompts"],
                dataset=data,
                base_mean_reward=report["base"]["mean"],
                ci95=(low, high),
                report_uri=report["report_uri"],
            )
        )
    if scope.json:
        print_json({key: value for key, value in report.items() if key != "per_prompt"})
        return
    _print(report)
    say(f"Report: {shown(report['report_uri'])}\nPlot:   {shown(report['plot_uri'])}")
    if record:
        say(f"Recorded the evaluation of {trained_record.name!r}; 'rft models promote' will use it.")


def _local_copy(target: Environment, data: str, folder: Path) -> Path:
    if not data.startswith("s3://"):
        path = Path(data)
        if not path.is_file():
            raise RftError(f"Held-out data {data!r} is neither a file nor an s3:// URI.")
        return path
    location = parse_s3_uri(data)
    path = folder / "heldout.jsonl"
    target.client("s3").download_file(location.bucket, location.key, str(path))
    return path


def _held_out(path: Path, limit: int | None) -> list[dict[str, Any]]:
    # The dataset rules, without the training minimum: a held-out set may be small.
    report = datasets.validate_file(path, limits=datasets.DatasetLimits(min_prompts=1))
    if not report.ok:
        raise ValidationError(f"The held-out data {path}", report.problems, report.problem_count)
    return read_records(path, limit)


def _errors(*gradings: Any) -> dict[str, int]:
    errors: dict[str, int] = {}
    for grading in gradings:
        for reason, count in grading.errors.items():
            errors[reason] = errors.get(reason, 0) + count
        if grading.timeouts:
            errors["timeout"] = errors.get("timeout", 0) + grading.timeouts
        if grading.contract_violations:
            errors["contract_violation"] = errors.get("contract_violation", 0) + grading.contract_violations
    return errors


def _default_location(target: Environment, name: str) -> str:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"s3://{target.artifacts_bucket}/{EVALUATIONS_PREFIX}/{name}/{stamp}"


def _join(location: str, file_name: str) -> str:
    if location.startswith("s3://"):
        return f"{location.rstrip('/')}/{file_name}"
    return str(Path(location) / file_name)


def _write(target: Environment, where: str, body: bytes, content_type: str) -> None:
    if where.startswith("s3://"):
        location = parse_s3_uri(where)
        extra: dict[str, Any] = {"ContentType": content_type}
        if location.bucket == target.artifacts_bucket:
            extra.update(ServerSideEncryption="aws:kms", SSEKMSKeyId=target.data_key_arn)
        target.client("s3").put_object(Bucket=location.bucket, Key=location.key, Body=body, **extra)
        return
    files.write_bytes(Path(where), body, force=True)  # existing files were refused (or --force) up front


def _print(report: dict[str, Any]) -> None:
    table = Table("model", "mean reward", "std", "prompts", title=f"{report['name']} on {report['reward']}")
    table.add_row(f"trained ({shown(report['trained_model'])})", *_row(report["trained"]))
    table.add_row(f"base ({shown(report['base_model'])})", *_row(report["base"]))
    console.print(table)
    difference = report["difference"]
    low, high = difference["ci95"]
    verdict = (
        "the trained model is better"
        if low > 0
        else "the trained model is worse"
        if high < 0
        else "no difference shown at this sample size"
    )
    interval = shown(f"[{low:+.3f}, {high:+.3f}]")
    console.print(
        f"Difference (trained - base): [bold]{difference['mean']:+.3f}[/], 95% CI {interval} "
        f"({difference['method']}); wins {difference['wins']}, losses {difference['losses']}, "
        f"ties {difference['ties']}: {verdict}.",
        soft_wrap=True,
    )
    from rft.preflight import NO_ANSWER_REASONS

    no_answer = sum(n for reason, n in report["grader_errors"].items() if reason in NO_ANSWER_REASONS)
    failed = {reason: n for reason, n in report["grader_errors"].items() if reason not in NO_ANSWER_REASONS}
    if no_answer:
        console.print(f"Answers with nothing the grader could read (scored 0): {no_answer}.")
    if failed:
        console.print(shown(f"The grader failed (scored 0): {failed}."), soft_wrap=True)


def _row(summary: dict[str, Any]) -> tuple[str, str, str]:
    return f"{summary['mean']:.3f}", f"{summary['std']:.3f}", str(summary["n"])
