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
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

DEFAULT_LOCAL_DEADLINE_SECONDS = 300.0
DEFAULT_DEADLINE_MARGIN_SECONDS = 3.0
DEFAULT_SAMPLE_SECONDS = 2.0


@dataclass(frozen=True)
class Sample:
    id: str
    messages: list[dict]  # normalised: every content is a str
    response: str  # text of the last assistant message ("" if none)
    reference: Any  # reference_answer, unwrapped ({"text": s} -> s); None if missing
    metadata: dict  # everything else the sample carried (task_id, overrides...)


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
    messages: list[dict] = []
    response = ""
    for message in raw_messages:
        if not isinstance(message, dict):
            raise MalformedSample("malformed_messages", "a message is not an object")
        role = message.get("role")
        text = content_text(message.get("content"))
        normalised = {**message, "content": text}
        messages.append(normalised)
        if role == "assistant":
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


def batch_of(event: Any) -> list:
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
    try:
        number = float(value)
    except (TypeError, ValueError):
        return 0.0
    if not math.isfinite(number):
        return 0.0
    return min(1.0, max(0.0, number))


def _finite(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def build_result(raw_id: Any, grade: Grade) -> dict:
    """The response entry for one sample: correctness as the "Reward", extra figures as "Metric"."""
    score = 0.0 if grade.error else clip_score(grade.score)
    metrics = [{"name": "correctness", "value": score, "type": "Reward"}]
    for name, value in grade.metrics.items():
        number = _finite(value)
        if number is not None:
            metrics.append({"name": str(name), "value": number, "type": "Metric"})
    if grade.error:
        metrics.append({"name": f"error_{grade.error}", "value": 1.0, "type": "Metric"})
    return {"id": raw_id, "aggregate_reward_score": score, "metrics_list": metrics}


def _deadline(context: Any, started: float) -> float:
    remaining_ms = None
    getter = getattr(context, "get_remaining_time_in_millis", None)
    if callable(getter):
        try:
            remaining_ms = float(getter())
        except (TypeError, ValueError):
            remaining_ms = None
    if remaining_ms is None:
        return started + DEFAULT_LOCAL_DEADLINE_SECONDS
    return started + max(0.0, remaining_ms / 1000.0 - DEFAULT_DEADLINE_MARGIN_SECONDS)


def make_handler(
    grade: GradeFn, *, reward_name: str, defaults: Mapping[str, Any] | None = None
) -> Callable[[Any, Any], list[dict]]:
    """Builds the Lambda handler: parses every event shape, applies per-sample and batch deadlines,
    catches every per-sample exception (score 0 + metric), applies configured shaping terms, logs a
    batch summary and emits EMF metrics, returns [{id, aggregate_reward_score, metrics_list}] in order."""
    per_sample = float((defaults or {}).get("sample_timeout_s", DEFAULT_SAMPLE_SECONDS))

    def handler(event: Any, context: Any = None) -> list[dict]:
        started = time.monotonic()
        raws = batch_of(event)
        budget = Budget(per_sample_seconds=per_sample, deadline=_deadline(context, started))
        results = []
        for raw in raws:
            raw_id = raw.get("id") if isinstance(raw, dict) else None
            try:
                sample = parse_sample(raw)
            except MalformedSample as exc:
                results.append(build_result(raw_id, Grade(0.0, error=exc.reason)))
                continue
            if budget.remaining() <= 0:
                outcome = Grade(0.0, error="timeout")
            elif sample.reference is None:
                outcome = Grade(0.0, error="missing_reference")
            else:
                try:
                    outcome = grade(sample, budget)
                except Exception as exc:
                    print(f"{reward_name}: grader raised {type(exc).__name__}", file=sys.stderr)
                    outcome = Grade(0.0, error="exception")
            results.append(build_result(raw_id, outcome))
        return results

    return handler
