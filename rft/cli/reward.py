"""`rft reward test`: the reward preflight (rft.preflight), with responses from a file, the gold
answers, or sampled from a model through its API."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Annotated, Any

import typer

from rft import datasets, preflight, strict_json
from rft.cli import files, inference
from rft.cli.common import GatewayOption, Scope, console, plural, print_json, say, scoped, shown, warn
from rft.cli.errors import EXIT_CHECK_FAILED
from rft.errors import RftError

app = typer.Typer(
    help="Check a reward function before paying for training.\n\n"
    "Example: rft reward test --reward math_answer --data train.jsonl --gold",
    no_args_is_help=True,
)

SAMPLED_PROMPTS_DEFAULT = 32
# A base model scoring outside this band gives GRPO almost nothing to learn from (bedrock-rft.md).
USEFUL_MEAN = (0.05, 0.95)


def read_records(path: Path, limit: int | None) -> list[dict[str, Any]]:
    """The first ``limit`` non-blank JSON lines of a file (all when None)."""
    records: list[dict[str, Any]] = []
    with path.open("rb") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                record = strict_json.loads(line)
            except strict_json.JsonInputError as exc:
                raise RftError(f"{path}: line {number} is {exc}.") from None
            if not isinstance(record, dict) or not isinstance(record.get("messages"), list):
                raise RftError(f"{path}: line {number} has no 'messages' list.")
            records.append(record)
            if limit is not None and len(records) >= limit:
                break
    if not records:
        raise RftError(f"{path} holds no prompts.")
    return records


def prompt_of(record: dict[str, Any]) -> list[dict[str, Any]]:
    """The messages to send (rft.datasets.prompt_of)."""
    return datasets.prompt_of(record["messages"])


@app.command("test")
@scoped
def test(
    reward: Annotated[str, typer.Option("--reward", "-r", help="The reward folder (e.g. math_answer).")],
    data: Annotated[
        Path,
        typer.Option("--data", "-d", exists=True, dir_okay=False, help="Dataset lines, or ready samples."),
    ],
    responses: Annotated[
        Path | None,
        typer.Option(
            exists=True,
            dir_okay=False,
            help="JSONL whose line i answers data line i: a string, or {'responses': [...]} for several.",
        ),
    ] = None,
    gold: Annotated[
        bool, typer.Option("--gold", help="Grade each reference answer as the response.")
    ] = False,
    sample_from: Annotated[
        str | None,
        typer.Option(
            "--sample-from",
            metavar="MODEL",
            help="Sample responses from a base model id or a trained model's name/alias through its API.",
        ),
    ] = None,
    gateway: GatewayOption = False,
    samples_per_prompt: Annotated[
        int,
        typer.Option("--samples-per-prompt", "-k", min=1, max=16, help="Rollouts per prompt when sampling."),
    ] = 4,
    limit: Annotated[
        int | None,
        typer.Option(
            min=1, help=f"Use the first N prompts (default: all; {SAMPLED_PROMPTS_DEFAULT} when sampling)."
        ),
    ] = None,
    temperature: Annotated[float, typer.Option(min=0.0, max=2.0, help="Sampling temperature.")] = 1.0,
    max_tokens: Annotated[int, typer.Option(min=1, help="Most tokens per sampled response.")] = 1024,
    concurrency: Annotated[int, typer.Option(min=1, max=64, help="Parallel model calls when sampling.")] = 4,
    save_responses: Annotated[
        Path | None, typer.Option(dir_okay=False, help="Keep the sampled responses (reuse with --responses).")
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite the --save-responses file.")] = False,
    batch_size: Annotated[int, typer.Option(min=1, help="Samples per grader invocation.")] = 16,
    deadline: Annotated[
        float, typer.Option(min=0.1, help="Simulated Lambda timeout per batch, seconds.")
    ] = 300.0,
    *,
    scope: Scope,
) -> None:
    """Run a grader locally over (prompt, response) samples in the Bedrock event shape and report
    the score distribution, the share of prompt groups with no learning signal (all rollouts scored
    the same), errors, timeouts and throughput. Exits 1 if the grader breaks the reward contract.

    With --sample-from MODEL -k 4 the responses come from the model itself: a base model that
    earns some but not all of the reward is one RFT can improve. A response in which the grader
    finds no answer scores 0 and is counted apart from the grader's own failures.

    \b
    Example: rft reward test --reward math_answer --data train.jsonl \\
               --sample-from openai.gpt-oss-20b -k 4
    """
    chosen = sum(bool(x) for x in (responses, gold, sample_from))
    if chosen > 1:
        raise typer.BadParameter(
            "give only one of --responses, --gold and --sample-from", param_hint="--responses"
        )
    preflight.load_handler(reward)  # an unknown reward fails before any model is called
    if save_responses is not None:
        files.check_target(str(save_responses), force=force)
    if not chosen and _needs_responses(data):
        raise RftError(
            f"{data} holds prompts without answers: give --sample-from MODEL, --responses FILE or --gold."
        )
    with tempfile.TemporaryDirectory(prefix="rft-preflight-") as folder:
        source = data
        response_file = responses
        if sample_from:
            records = read_records(data, limit or SAMPLED_PROMPTS_DEFAULT)
            deployed = inference.needs_deployment(sample_from, gateway=gateway)
            where = scope.environment(deployed=deployed)
            target = inference.choose(where, sample_from, gateway=gateway)
            say(
                f"Sampling {plural(samples_per_prompt, 'response')} to each of "
                f"{plural(len(records), 'prompt')} from {shown(target.label)}."
            )
            answers = inference.sample_prompts(
                target,
                [prompt_of(record) for record in records],
                n=samples_per_prompt,
                sampling=inference.Sampling(max_tokens=max_tokens, temperature=temperature),
                concurrency=concurrency,
            )
            source = Path(folder, "prompts.jsonl")
            source.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
            response_file = save_responses or Path(folder, "responses.jsonl")
            lines = (json.dumps({"responses": a}) for a in answers)
            files.write_lines(str(response_file), lines, force=True)  # refused up front unless --force
            if save_responses:
                say(f"Saved the sampled responses to {shown(save_responses)}.")
        elif limit is not None:
            records = read_records(data, limit)
            source = Path(folder, "prompts.jsonl")
            source.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
        samples = preflight.load_samples(source, responses=response_file, gold=gold)
        report = preflight.run_preflight(reward, samples, batch_size=batch_size, deadline_seconds=deadline)
    if scope.json:
        print_json(report.to_dict())
    else:
        console.print(shown(preflight.format_report(report)), soft_wrap=True)
        _advise(report, sampled=bool(sample_from))
    if report.contract_violations:
        raise typer.Exit(EXIT_CHECK_FAILED)


def _needs_responses(path: Path) -> bool:
    first = read_records(path, 1)[0]
    return prompt_of(first) is first["messages"]


def _advise(report: preflight.PreflightReport, *, sampled: bool) -> None:
    if report.samples == 0:
        warn("no samples were graded.")
        return
    low, high = USEFUL_MEAN
    if sampled and report.mean < low:
        warn(
            f"the model earns almost no reward (mean {report.mean:.3f}): RFT has little signal to start from."
        )
    elif sampled and report.mean > high:
        warn(f"the model already earns almost all the reward (mean {report.mean:.3f}): little left to learn.")
    if report.groups and report.flat_group_share > 0.5:
        warn(
            f"{report.flat_group_share:.0%} of prompt groups scored the same on every rollout: "
            "those prompts teach nothing."
        )
    if report.no_answers:
        warn(
            f"{plural(report.no_answers, 'response')} held no answer the grader could read (scored 0): "
            "check that the prompt asks for the final answer in the form the grader reads."
        )
    if report.timeouts or report.grader_failures:
        warn(
            f"the grader failed on {plural(report.grader_failures, 'sample')} and timed out on "
            f"{report.timeouts}; see the reasons above."
        )
