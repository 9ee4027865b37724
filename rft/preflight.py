"""Reward preflight: run a grader locally over samples, exactly as Bedrock would call it, and
report whether its scores can teach anything before a training job pays for them.

Library use::

    from rft.preflight import load_samples, run_preflight
    report = run_preflight("math_answer", load_samples("train.jsonl", responses="rollouts.jsonl"))
    print(format_report(report)); json.dumps(report.to_dict())

Command line (``rft reward test`` wraps the same functions)::

    python -m rft.preflight --reward math_answer FILE.jsonl [--responses FILE | --gold] [--json]

Input lines are either samples in the grader's event shape (``{"id", "messages": [..., assistant],
"metadata"}``) or dataset lines (``{"messages": [... user], "reference_answer", ...}``) completed
by ``--responses`` (line *i* answers dataset line *i*: a JSON string, ``{"response": ...}`` or
``{"responses": [...]}`` for several rollouts of one prompt) or by ``--gold`` (the reference
answer itself as the response: a grader must give its own gold answers full marks).

The report: score distribution (mean, quantiles, histogram), share of prompt groups whose rollouts
all scored the same (GRPO learns nothing from them), errors by reason, timeouts, throughput, and
contract violations (a result missing, out of order, or out of [0, 1]).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import importlib
import io
import json
import math
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, cast

from rft import strict_json
from rft.datasets import ends_with_answer, prompt_of
from rft.names import REWARDS_PACKAGE, discover_graders, is_grader_name
from rft.quoting import quote
from rft.stats import quantile

QUANTILES = (0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0)
HISTOGRAM_BINS = 10

# One input of a grader: ``{"id", "messages", "metadata", ...}`` (the reward-Lambda contract).
Sample = dict[str, Any]
# A reward Lambda's handler: (batch of samples, Lambda context) -> one result per sample. Results
# are checked one by one (``_checked_score``), so their shape is not trusted here.
GraderHandler = Callable[[Any, Any], list[Any]]


class PreflightError(ValueError):
    """Bad preflight input; the message names the file and line or the reward."""


# --------------------------------------------------------------------------- the report


# Reasons a grader gives when the *response* held nothing to grade (the model gave no final answer,
# or no code): the grader worked and the zero is deserved. Every other reason is the grader, its
# reference or its settings failing.
NO_ANSWER_REASONS = frozenset({"no_answer", "no_code"})


@dataclass(frozen=True)
class PreflightReport:
    reward: str
    samples: int
    mean: float
    quantiles: dict[str, float]
    histogram: list[dict[str, float]]  # [{"low", "high", "count"}], HISTOGRAM_BINS bins over [0, 1]
    zero_share: float
    full_share: float  # share of samples scoring 1
    groups: int  # prompts with at least two rollouts
    flat_groups: int  # ... whose rollouts all scored the same
    flat_group_share: float
    errors: dict[str, int]  # by reason, timeouts excluded
    timeouts: int
    contract_violations: int
    duration_s: float
    samples_per_second: float
    batch_p50_ms: float
    batch_p99_ms: float
    metric_means: dict[str, float] = field(default_factory=dict)

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    @property
    def no_answers(self) -> int:
        """Responses in which the grader found no answer (the model's doing, not the grader's)."""
        return sum(count for reason, count in self.errors.items() if reason in NO_ANSWER_REASONS)

    @property
    def grader_failures(self) -> int:
        """Samples the grader could not grade (timeouts apart)."""
        return self.error_count - self.no_answers

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary of every figure."""
        data = asdict(self)
        data["error_count"] = self.error_count
        data["no_answers"] = self.no_answers
        data["grader_failures"] = self.grader_failures
        return data


def _histogram(scores: list[float]) -> list[dict[str, float]]:
    counts = [0] * HISTOGRAM_BINS
    for score in scores:
        counts[min(HISTOGRAM_BINS - 1, int(score * HISTOGRAM_BINS))] += 1
    width = 1.0 / HISTOGRAM_BINS
    return [
        {"low": round(i * width, 6), "high": round((i + 1) * width, 6), "count": count}
        for i, count in enumerate(counts)
    ]


# --------------------------------------------------------------------------- running a grader


class LocalContext:
    """The part of the Lambda context graders use: the time left before the function's timeout."""

    def __init__(self, timeout_seconds: float) -> None:
        self._deadline = time.monotonic() + timeout_seconds
        self.function_name = "rft-preflight"
        self.aws_request_id = "local"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def available_rewards(root: Path | None = None) -> list[str]:
    """Reward folders that have a handler (what the rewards stack deploys)."""
    if root is None:
        root = Path(importlib.import_module(REWARDS_PACKAGE).__file__ or "").parent
    return list(discover_graders(root))


def load_handler(reward: str) -> GraderHandler:
    """The Lambda handler of a reward folder; ``PreflightError`` naming the known ones otherwise."""
    if not is_grader_name(reward):
        raise PreflightError(f"reward name {quote(reward)} is not a reward folder name")
    known = available_rewards()
    if reward not in known:
        raise PreflightError(f"unknown reward {quote(reward)}; available: {', '.join(known) or 'none'}")
    module = importlib.import_module(f"{REWARDS_PACKAGE}.{reward}.handler")
    handler = getattr(module, "handler", None)
    if not callable(handler):
        raise PreflightError(f"{REWARDS_PACKAGE}/{reward}/handler.py has no callable 'handler'")
    return cast(GraderHandler, handler)  # the contract's signature; results are checked on use


def _group_key(sample: Sample) -> str:
    """Rollouts of one prompt share a group: the prompt's messages (everything before the final
    assistant turn) identify it."""
    messages = sample.get("messages")
    if isinstance(messages, list):
        text = json.dumps(prompt_of(messages), sort_keys=True, default=str)
    else:
        text = repr(sample.get("id"))
    return hashlib.sha1(text.encode("utf-8", "surrogatepass"), usedforsecurity=False).hexdigest()


def _batches(samples: Iterable[Sample], size: int) -> Iterator[list[Sample]]:
    batch: list[Sample] = []
    for sample in samples:
        batch.append(sample)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def run_preflight(
    reward: str,
    samples: Iterable[Sample],
    *,
    batch_size: int = 16,
    deadline_seconds: float = 300.0,
    handler: GraderHandler | None = None,
    capture_logs: bool = True,
) -> PreflightReport:
    """Grades ``samples`` in batches of ``batch_size`` with the reward's own handler, each batch
    under a simulated Lambda timeout of ``deadline_seconds``, and summarises the scores.
    ``handler`` replaces the reward folder's handler (tests, custom graders); the handler's log
    lines are swallowed unless ``capture_logs`` is false."""
    if batch_size < 1:
        raise PreflightError("The batch size must be at least 1")
    if not deadline_seconds > 0:
        raise PreflightError("The deadline must be a positive number of seconds")
    grade_batch = handler if handler is not None else load_handler(reward)
    scores: list[float] = []
    groups: dict[str, list[float]] = defaultdict(list)
    errors: Counter[str] = Counter()
    metric_sums: defaultdict[str, float] = defaultdict(float)
    violations = 0
    batch_seconds: list[float] = []
    for batch in _batches(samples, batch_size):
        sink = io.StringIO()
        started = time.perf_counter()
        try:
            with contextlib.redirect_stdout(sink) if capture_logs else contextlib.nullcontext():
                results: Any = grade_batch(batch, LocalContext(deadline_seconds))
        except Exception as exc:  # the Lambda invocation itself would fail
            failure = f"{type(exc).__name__}: {exc}"
            raise PreflightError(f"Reward {reward} failed a whole batch: {failure}") from exc
        batch_seconds.append(time.perf_counter() - started)
        if not isinstance(results, list) or len(results) != len(batch):
            results = [None] * len(batch)  # each sample counts as a violation below
        for sample, result in zip(batch, results, strict=True):
            score = _checked_score(sample, result)
            if score is None:
                violations += 1
                score = 0.0
            scores.append(score)
            groups[_group_key(sample)].append(score)
            for metric in result.get("metrics_list", []) if isinstance(result, dict) else []:
                name, value = metric.get("name"), metric.get("value")
                if not isinstance(name, str) or not isinstance(value, int | float):
                    continue
                if name.startswith("error_"):
                    errors[name[len("error_") :]] += 1
                elif metric.get("type") == "Metric":
                    metric_sums[name] += value
    return _summarise(reward, scores, groups, errors, metric_sums, violations, batch_seconds)


def _checked_score(sample: Sample, result: Any) -> float | None:
    if not isinstance(result, dict):
        return None
    if isinstance(sample, dict) and "id" in sample and result.get("id") != sample["id"]:
        return None
    score = result.get("aggregate_reward_score")
    if isinstance(score, bool) or not isinstance(score, int | float) or not math.isfinite(score):
        return None
    if not 0.0 <= score <= 1.0:
        return None
    return float(score)


def _summarise(
    reward: str,
    scores: list[float],
    groups: dict[str, list[float]],
    errors: Counter[str],
    metric_sums: Mapping[str, float],
    violations: int,
    batch_seconds: list[float],
) -> PreflightReport:
    ordered = sorted(scores)
    count = len(scores)
    multi = [group for group in groups.values() if len(group) >= 2]
    flat = sum(1 for group in multi if max(group) - min(group) <= 1e-9)
    duration = sum(batch_seconds)
    timeouts = errors.pop("timeout", 0)
    batch_ms = sorted(seconds * 1000.0 for seconds in batch_seconds)
    return PreflightReport(
        reward=reward,
        samples=count,
        mean=sum(scores) / count if count else 0.0,
        quantiles={f"p{round(q * 100)}": quantile(ordered, q) for q in QUANTILES},
        histogram=_histogram(scores),
        zero_share=sum(1 for s in scores if s <= 0.0) / count if count else 0.0,
        full_share=sum(1 for s in scores if s >= 1.0) / count if count else 0.0,
        groups=len(multi),
        flat_groups=flat,
        flat_group_share=flat / len(multi) if multi else 0.0,
        errors=dict(sorted(errors.items())),
        timeouts=timeouts,
        contract_violations=violations,
        duration_s=duration,
        samples_per_second=count / duration if duration > 0 else 0.0,
        batch_p50_ms=quantile(batch_ms, 0.5),
        batch_p99_ms=quantile(batch_ms, 0.99),
        metric_means={name: total / count for name, total in sorted(metric_sums.items())} if count else {},
    )


# --------------------------------------------------------------------------- input files


def _read_jsonl(path: Path) -> Iterator[tuple[int, Any]]:
    try:
        handle = path.open("rb")  # bytes: the strict reader reports bad UTF-8 with its line
    except OSError as exc:
        raise PreflightError(f"{path}: cannot open ({exc.strerror})") from None
    with handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                yield number, strict_json.loads(line)
            except strict_json.JsonInputError as exc:
                raise PreflightError(f"{path}:{number}: {exc}") from None


def _responses_of(value: Any, where: str) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        if isinstance(value.get("responses"), list):
            items = value["responses"]
        elif "response" in value:
            items = [value["response"]]
        else:
            raise PreflightError(f"{where}: expected a string, {{'response': ...}} or {{'responses': [...]}}")
    elif isinstance(value, list):
        items = value
    else:
        raise PreflightError(f"{where}: expected a string, {{'response': ...}} or {{'responses': [...]}}")
    strings = [item for item in items if isinstance(item, str)]
    if not items or len(strings) != len(items):
        raise PreflightError(f"{where}: responses must be a non-empty list of strings")
    return strings


def gold_response(reference: Any) -> str:
    """The reference answer rendered as a response (for ``--gold``)."""
    if isinstance(reference, dict) and set(reference) <= {"text", "type"} and "text" in reference:
        reference = reference["text"]
    if isinstance(reference, str):
        return reference
    if isinstance(reference, dict):
        for key in ("answer", "final_answer", "solution"):
            if isinstance(reference.get(key), str | int | float) and not isinstance(reference.get(key), bool):
                return str(reference[key])
        if "expected" in reference:
            return json.dumps(reference["expected"])
    return json.dumps(reference)


def _is_sample(record: Sample) -> bool:
    return ends_with_answer(record.get("messages"))


def load_samples(
    path: str | Path, *, responses: str | Path | None = None, gold: bool = False
) -> Iterator[Sample]:
    """Samples in the grader's event shape from a JSONL file (see the module docstring)."""
    path = Path(path)
    response_lines = _read_jsonl(Path(responses)) if responses is not None else None
    for number, record in _read_jsonl(path):
        where = f"{path}:{number}"
        if not isinstance(record, dict):
            raise PreflightError(f"{where}: expected a JSON object")
        if _is_sample(record) and response_lines is None and not gold:
            sample = dict(record)
            sample.setdefault("id", f"line-{number}")
            yield sample
            continue
        messages = record.get("messages")
        if not isinstance(messages, list):
            raise PreflightError(f"{where}: no 'messages' list")
        prompt = prompt_of(messages)
        raw_metadata = record.get("metadata") or {}
        if not isinstance(raw_metadata, dict):
            raise PreflightError(f"{where}: 'metadata' must be a JSON object")
        metadata = dict(raw_metadata)
        for key, value in record.items():
            if key not in ("messages", "metadata", "id", "reference_answer"):
                metadata.setdefault(key, value)
        reference = record.get("reference_answer", metadata.get("reference_answer"))
        metadata["reference_answer"] = reference
        if gold:
            texts = [gold_response(reference)]
        elif response_lines is not None:
            try:
                response_number, value = next(response_lines)
            except StopIteration:
                raise PreflightError(
                    f"{responses}: fewer lines than {path} (none for line {number})"
                ) from None
            texts = _responses_of(value, f"{responses}:{response_number}")
        else:
            raise PreflightError(
                f"{where}: a dataset line (no assistant turn); give --responses FILE or --gold"
            )
        for index, text in enumerate(texts):
            yield {
                "id": f"{record.get('id', f'line-{number}')}#{index}",
                "messages": [*prompt, {"role": "assistant", "content": text}],
                "metadata": metadata,
            }


# --------------------------------------------------------------------------- printing


def format_report(report: PreflightReport) -> str:
    """A human-readable report."""
    lines = [
        f"reward {report.reward}: {report.samples} samples in {report.duration_s:.2f} s "
        f"({report.samples_per_second:,.0f} samples/s; batch p50 {report.batch_p50_ms:.1f} ms, "
        f"p99 {report.batch_p99_ms:.1f} ms)",
        f"mean score {report.mean:.3f}; zero {report.zero_share:.1%}; full marks {report.full_share:.1%}",
        "quantiles " + "  ".join(f"{name} {value:.3f}" for name, value in report.quantiles.items()),
    ]
    peak = max((b["count"] for b in report.histogram), default=0) or 1
    for bucket in report.histogram:
        bar = "#" * round(40 * bucket["count"] / peak)
        close = "]" if bucket["high"] >= 1.0 else ")"
        lines.append(f"  [{bucket['low']:.1f}, {bucket['high']:.1f}{close} {bucket['count']:>7} {bar}")
    if report.groups:
        lines.append(
            f"prompt groups with >= 2 rollouts: {report.groups}; all rollouts scored the same in "
            f"{report.flat_groups} ({report.flat_group_share:.1%}): no learning signal there"
        )
    else:
        lines.append("no prompt has two rollouts: group variance not measured")
    lines.append(f"the model gave no answer the grader could read: {report.no_answers}")
    lines.append(f"the grader failed: {report.grader_failures}; timed out: {report.timeouts}")
    for reason, count in report.errors.items():
        kind = "no answer" if reason in NO_ANSWER_REASONS else "grader error"
        lines.append(f"  {kind} {reason}: {count}")
    if report.contract_violations:
        lines.append(
            f"CONTRACT VIOLATIONS: {report.contract_violations} results missing, misordered or out of [0, 1]"
        )
    for name, mean in report.metric_means.items():
        lines.append(f"  metric {name}: mean {mean:.3f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rft.preflight", description=__doc__.split("\n\n")[0])
    parser.add_argument("--reward", required=True, help="reward folder name, e.g. math_answer")
    parser.add_argument("file", help="JSONL of samples or dataset lines")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--responses", help="JSONL of responses, line i for dataset line i")
    source.add_argument("--gold", action="store_true", help="grade each reference answer as the response")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--deadline", type=float, default=300.0, help="simulated Lambda timeout per batch, s")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    args = parser.parse_args(argv)
    try:
        samples = load_samples(args.file, responses=args.responses, gold=args.gold)
        report = run_preflight(
            args.reward, samples, batch_size=args.batch_size, deadline_seconds=args.deadline
        )
    except PreflightError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(report.to_dict(), indent=2) if args.json else format_report(report))
    return 1 if report.contract_violations else 0


if __name__ == "__main__":
    sys.exit(main())
