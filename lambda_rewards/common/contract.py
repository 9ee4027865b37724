"""The reward Lambda contract: parse every event shape Bedrock sends, grade each sample within its
budget and the batch deadline, and answer one result per sample, in order, scores in [0, 1].

A grader is a function ``grade(sample, budget) -> Grade``; ``make_handler`` turns it into the
Lambda handler. A grader never has to guard against bad events, exceptions or deadlines: a
malformed sample, a missing reference, an exception or a sample not reached before the deadline
scores 0 with an ``error_<reason>`` metric, and the batch never fails because of one sample.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeAlias

from lambda_rewards.common.metrics import BatchSummary, batch_record, emit, log_event
from lambda_rewards.common.settings import ConfigError, RewardSettings, load_settings, with_overrides
from lambda_rewards.common.shaping import shape


@dataclass(frozen=True)
class Sample:
    id: str
    messages: list[dict[str, Any]]  # normalised: every content is a str
    response: str  # text of the last assistant message ("" if none)
    reference: Any  # reference_answer, unwrapped ({"text": s} -> s); None if missing
    metadata: dict[str, Any]  # everything else the sample carried (task_id, overrides...)


@dataclass(frozen=True)
class Budget:
    per_sample_seconds: float
    deadline: float  # time.monotonic() value by which the whole batch must be answered

    def remaining(self) -> float:
        """Seconds left until the batch deadline (never negative)."""
        return max(0.0, self.deadline - time.monotonic())

    def for_sample(self) -> float:
        """Seconds this sample may use: its own budget, capped by what the batch has left."""
        return min(self.per_sample_seconds, self.remaining())


@dataclass(frozen=True)
class Grade:
    score: float  # correctness reward in [0,1] (before shaping)
    metrics: dict[str, float] = field(default_factory=dict)  # extra figures, reported as type "Metric"
    error: str | None = None  # short machine-readable reason the sample could not be graded


GradeFn = Callable[[Sample, Budget], Grade]
# One sample's answer to Bedrock: {"id", "aggregate_reward_score", "metrics_list"}.
Result: TypeAlias = dict[str, Any]


class MalformedSample(ValueError):
    """A sample that cannot be read; ``reason`` is the machine-readable metric suffix."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


# --------------------------------------------------------------------------- event parsing


def content_text(content: Any) -> str:
    """Message content as text: a string, a list of parts (``{"type": "text", "text": ...}`` or
    plain strings), a single part, or nothing."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, dict):
        text = content.get("text")
        return text if isinstance(text, str) else ""
    if isinstance(content, list):
        pieces = []
        for part in content:
            if isinstance(part, str):
                pieces.append(part)
            elif (
                isinstance(part, dict)
                and isinstance(part.get("text"), str)
                and part.get("type", "text") in ("text", "output_text", "input_text")
            ):
                pieces.append(part["text"])
        return "".join(pieces)
    raise MalformedSample("malformed_content", f"message content of type {type(content).__name__}")


def unwrap_reference(reference: Any) -> Any:
    """``{"text": s}`` (optionally with ``"type"``) becomes ``s``; anything else is returned as is."""
    if (
        isinstance(reference, dict)
        and isinstance(reference.get("text"), str)
        and set(reference) <= {"text", "type"}
    ):
        return reference["text"]
    return reference


def reference_object(reference: Any) -> Any:
    """A reference as a JSON value: a string holding a JSON object or array is decoded, anything
    else is returned unchanged. For graders whose reference is structured."""
    if isinstance(reference, str):
        stripped = reference.strip()
        if stripped[:1] in ("{", "["):
            try:
                return json.loads(stripped)
            except ValueError:
                return reference
    return reference


# The roles of the turn being graded: Bedrock's Nova RFT sends the rollout as `nova_assistant`
# (the AWS FinQA sample grader accepts both), the Mantle models as `assistant`.
ANSWER_ROLES = frozenset({"assistant", "nova_assistant"})
_SAMPLE_KEYS = frozenset({"id", "messages", "metadata", "reference_answer"})


def parse_sample(raw: Any) -> Sample:
    """One raw sample as a ``Sample``; raises ``MalformedSample`` naming what is wrong."""
    if not isinstance(raw, dict):
        raise MalformedSample("malformed_sample", f"sample is a {type(raw).__name__}, not an object")
    raw_id = raw.get("id")
    sample_id = "" if raw_id is None else str(raw_id)
    raw_messages = raw.get("messages")
    if not isinstance(raw_messages, list):
        raise MalformedSample("malformed_messages", "sample has no 'messages' list")
    messages: list[dict[str, Any]] = []
    response = ""
    for message in raw_messages:
        if not isinstance(message, dict):
            raise MalformedSample("malformed_messages", "a message is not an object")
        role = message.get("role")
        text = content_text(message.get("content"))
        normalised = {**message, "content": text}
        messages.append(normalised)
        if role in ANSWER_ROLES:
            response = text
    raw_metadata = raw.get("metadata")
    if raw_metadata is None:
        raw_metadata = {}
    if not isinstance(raw_metadata, dict):
        raise MalformedSample("malformed_metadata", "sample 'metadata' is not an object")
    if "reference_answer" in raw_metadata:
        reference = raw_metadata["reference_answer"]
    else:
        reference = raw.get("reference_answer")
    metadata = {k: v for k, v in raw_metadata.items() if k != "reference_answer"}
    for key, value in raw.items():
        if key not in _SAMPLE_KEYS and key not in metadata:
            metadata[key] = value
    return Sample(
        id=sample_id,
        messages=messages,
        response=response,
        reference=unwrap_reference(reference),
        metadata=metadata,
    )


def batch_of(event: Any) -> list[Any]:
    """The list of raw samples in an event; a clear ``ValueError`` if the event is not a batch."""
    if isinstance(event, list):
        return event
    if isinstance(event, dict):
        trajectories = event.get("trajectories")
        if isinstance(trajectories, list):
            return trajectories
        keys = ", ".join(sorted(map(str, event))[:10]) or "no keys"
        raise ValueError(
            "reward event must be a JSON array of samples or an object with a 'trajectories' array; "
            f"received an object with keys: {keys}"
        )
    raise ValueError(
        "reward event must be a JSON array of samples or an object with a 'trajectories' array; "
        f"received {type(event).__name__}"
    )


# --------------------------------------------------------------------------- results


def clip_score(value: Any) -> float:
    """A score in [0, 1]; anything non-numeric or not finite is 0."""
    if isinstance(value, bool):
        return float(value)
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        return 0.0
    if not math.isfinite(number):
        return 0.0
    return min(1.0, max(0.0, number))


def _finite(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return number if math.isfinite(number) else None


def build_result(
    raw_id: Any, grade: Grade, response: str = "", settings: RewardSettings | None = None
) -> Result:
    """The response entry of one sample. ``correctness`` (and any enabled shaping term) is reported
    with type "Reward", the grader's own figures with type "Metric", and an error as
    ``error_<reason>`` = 1. A sample with an error scores 0 whatever shaping would give."""
    correctness = 0.0 if grade.error else clip_score(grade.score)
    metrics = [{"name": "correctness", "value": correctness, "type": "Reward"}]
    aggregate = correctness
    if settings is not None and not grade.error:
        shaped = shape(correctness, response, settings)
        aggregate = clip_score(shaped.score)
        for name, value in shaped.terms.items():
            metrics.append({"name": name, "value": value, "type": "Reward"})
    for name, value in grade.metrics.items():
        number = _finite(value)
        if number is not None:
            metrics.append({"name": str(name), "value": number, "type": "Metric"})
    if grade.error:
        metrics.append({"name": f"error_{grade.error}", "value": 1.0, "type": "Metric"})
    return {
        "id": "" if raw_id is None else raw_id,
        "aggregate_reward_score": aggregate,
        "metrics_list": metrics,
    }


def batch_deadline(context: Any, started: float, settings: RewardSettings) -> float:
    """The ``time.monotonic()`` value by which the batch must be answered: the Lambda's remaining
    time less the safety margin, or the local default when there is no Lambda context."""
    getter = getattr(context, "get_remaining_time_in_millis", None)
    if callable(getter):
        try:
            remaining = float(getter()) / 1000.0
        except (TypeError, ValueError):
            remaining = None
        if remaining is not None and math.isfinite(remaining):
            return started + max(0.0, remaining - settings.deadline_margin_s)
    return started + settings.local_deadline_s


def _where(exc: BaseException) -> str:
    """file:line of the innermost frame of an exception (no message: it may quote the payload)."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    if tb is None:
        return "?"
    return f"{tb.tb_frame.f_code.co_filename.rsplit('/', 1)[-1]}:{tb.tb_lineno}"


@dataclass(frozen=True)
class _BatchGrader:
    """Grades the samples of one invocation (one instance per batch)."""

    grade: GradeFn
    reward_name: str
    settings: RewardSettings
    budget: Budget
    require_reference: bool

    def prepare(self, raw: Any) -> tuple[Any, Sample | Grade, RewardSettings]:
        """(raw id, the sample to grade or the grade of one that cannot be graded at all
        (malformed, bad override, missing reference), the sample's settings)."""
        raw_id = raw.get("id") if isinstance(raw, dict) else None
        try:
            sample = parse_sample(raw)
        except MalformedSample as exc:
            return raw_id, Grade(0.0, error=exc.reason), self.settings
        try:
            settings = with_overrides(self.settings, sample.metadata.get("reward_config"))
        except ConfigError:
            return raw_id, Grade(0.0, error="bad_config"), self.settings
        if self.require_reference and sample.reference is None:
            return raw_id, Grade(0.0, error="missing_reference"), settings
        return raw_id, sample, settings

    def run(self, sample: Sample) -> tuple[Grade, float]:
        """The grader's verdict on one sample and the seconds it took; never raises."""
        started = time.monotonic()
        try:
            outcome = self.grade(sample, self.budget)
            if not isinstance(outcome, Grade):
                raise TypeError(f"grader returned {type(outcome).__name__}, not Grade")
        except Exception as exc:
            log_event(
                "WARNING",
                "grader raised",
                reward=self.reward_name,
                error_type=type(exc).__name__,
                where=_where(exc),
            )
            outcome = Grade(0.0, error="exception")
        return outcome, time.monotonic() - started


@dataclass(frozen=True)
class RewardHandler:
    """The Lambda handler of a grader (see ``make_handler``); ``settings`` are its ``REWARD_*``
    settings, read once at cold start."""

    grade: GradeFn
    reward_name: str
    settings: RewardSettings
    require_reference: bool
    max_concurrency: int

    def __call__(self, event: Any, context: Any = None) -> list[Result]:
        started = time.monotonic()
        raws = batch_of(event)
        budget = Budget(self.settings.sample_timeout_s, batch_deadline(context, started, self.settings))
        batch = _BatchGrader(self.grade, self.reward_name, self.settings, budget, self.require_reference)
        summary = BatchSummary(self.reward_name)
        if self.max_concurrency > 1 and len(raws) > 1:
            results = _grade_concurrently(batch, raws, summary, self.max_concurrency)
        else:
            results = _grade_in_order(batch, raws, summary)
        summary.duration_s = time.monotonic() - started
        emit(batch_record(summary, namespace=self.settings.metrics_namespace, emf=self.settings.emf))
        return results


def make_handler(
    grade: GradeFn,
    *,
    reward_name: str,
    defaults: Mapping[str, Any] | None = None,
    require_reference: bool = True,
    max_concurrency: int = 1,
) -> RewardHandler:
    """Builds the Lambda handler: parses every event shape, applies per-sample and batch deadlines,
    catches every per-sample exception (score 0 + metric), applies configured shaping terms, logs a
    batch summary and emits EMF metrics, returns [{id, aggregate_reward_score, metrics_list}] in order.

    ``defaults`` are the grader's own defaults for the ``REWARD_*`` settings (field names of
    ``RewardSettings``, e.g. ``{"sample_timeout_s": 2.0}``); the environment overrides them and is
    read here, once, so a bad variable fails at cold start with ``ConfigError`` naming it.
    ``require_reference=False`` lets samples without a reference reach the grader (a judge with a
    rubric from its settings). ``max_concurrency > 1`` grades samples on that many threads (for
    graders that wait on the network); the batch deadline still holds."""
    return RewardHandler(grade, reward_name, load_settings(defaults), require_reference, max_concurrency)


# A sample's outcome: its grade and the seconds the grader took (None: the grader never ran).
_Outcome: TypeAlias = tuple[Grade, float | None]


def _finish(
    summary: BatchSummary,
    raw_id: Any,
    work: Sample | Grade,
    settings: RewardSettings,
    outcome: _Outcome,
) -> Result:
    grade, latency = outcome
    # An ungradable sample's grade carries an error, for which the response is not read.
    response = work.response if isinstance(work, Sample) else ""
    result = build_result(raw_id, grade, response, settings)
    summary.add(result["aggregate_reward_score"], grade.error, latency)
    return result


def _grade_in_order(batch: _BatchGrader, raws: list[Any], summary: BatchSummary) -> list[Result]:
    results = []
    for raw in raws:
        raw_id, work, settings = batch.prepare(raw)
        outcome: _Outcome
        if isinstance(work, Grade):
            outcome = (work, None)
        elif batch.budget.remaining() <= 0:
            outcome = (Grade(0.0, error="timeout"), None)
        else:
            outcome = batch.run(work)
        results.append(_finish(summary, raw_id, work, settings, outcome))
    return results


def _grade_concurrently(
    batch: _BatchGrader, raws: list[Any], summary: BatchSummary, limit: int
) -> list[Result]:
    from concurrent.futures import (
        FIRST_COMPLETED,
        Future,
        ThreadPoolExecutor,
        wait,
    )  # only threaded graders pay

    prepared = [batch.prepare(raw) for raw in raws]
    outcomes: dict[int, _Outcome] = {}
    pending: dict[Future[_Outcome], int] = {}
    executor = ThreadPoolExecutor(max_workers=min(limit, len(raws)), thread_name_prefix="grade")
    try:
        for index, (_, work, _) in enumerate(prepared):
            if isinstance(work, Grade):
                outcomes[index] = (work, None)
            else:
                pending[executor.submit(_run_if_time_left, batch, work)] = index
        waiting = set(pending)
        while waiting:
            done, waiting = wait(waiting, timeout=batch.budget.remaining(), return_when=FIRST_COMPLETED)
            if not done:
                break
            for future in done:
                outcomes[pending[future]] = future.result()
    finally:
        # Threads still running past the deadline are abandoned: their results are dropped.
        executor.shutdown(wait=False, cancel_futures=True)
    return [
        _finish(summary, raw_id, work, settings, outcomes.get(index, (Grade(0.0, error="timeout"), None)))
        for index, (raw_id, work, settings) in enumerate(prepared)
    ]


def _run_if_time_left(batch: _BatchGrader, sample: Sample) -> _Outcome:
    if batch.budget.remaining() <= 0:
        return Grade(0.0, error="timeout"), None
    return batch.run(sample)
