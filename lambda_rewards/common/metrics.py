"""One structured log line per batch, which is also a CloudWatch embedded-metric-format record.

The line carries figures only (never prompts, responses or references): sample count, mean score,
share of zero scores, errors by reason, timeouts, duration and per-sample latency quantiles. With
EMF on, the ``_aws`` member makes CloudWatch turn the same figures into metrics in the configured
namespace with the dimension ``Reward`` (the grader's name). A stdlib printer instead of
aws-lambda-powertools keeps the grader's cold start small (powertools' metrics import costs
tens of milliseconds; this module costs nothing beyond ``json``).
"""

from __future__ import annotations

import json
import sys
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TextIO

from rft.stats import quantile

# (log key, metric name, unit)
_EMF_FIELDS = (
    ("count", "Samples", "Count"),
    ("mean_score", "MeanScore", "None"),
    ("zero_share", "ZeroScoreShare", "None"),
    ("errors", "Errors", "Count"),
    ("timeouts", "Timeouts", "Count"),
    ("sandbox_unavailable", "SandboxUnavailable", "Count"),
    ("duration_ms", "BatchDuration", "Milliseconds"),
    ("sample_p50_ms", "SampleLatencyP50", "Milliseconds"),
    ("sample_p99_ms", "SampleLatencyP99", "Milliseconds"),
)


@dataclass
class BatchSummary:
    reward: str
    scores: list[float] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)  # seconds per graded sample
    error_reasons: Counter[str] = field(default_factory=Counter)
    duration_s: float = 0.0

    def add(self, score: float, error: str | None, latency_s: float | None) -> None:
        self.scores.append(score)
        if error:
            self.error_reasons[error] += 1
        if latency_s is not None:
            self.latencies.append(latency_s)

    def figures(self) -> dict[str, float]:
        count = len(self.scores)
        latencies = sorted(self.latencies)
        timeouts = self.error_reasons.get("timeout", 0)
        return {
            "count": count,
            "mean_score": round(sum(self.scores) / count, 6) if count else 0.0,
            "zero_share": round(sum(1 for s in self.scores if s <= 0.0) / count, 6) if count else 0.0,
            "errors": sum(self.error_reasons.values()) - timeouts,
            "timeouts": timeouts,
            # Samples refused because the grader's sandbox could not be established (code_tests
            # fails closed): also counted in "errors"; an alarm of its own, since it means every
            # sample of that grader scores 0 until the deployment changes.
            "sandbox_unavailable": self.error_reasons.get("sandbox_unavailable", 0),
            "duration_ms": round(self.duration_s * 1000.0, 3),
            "sample_p50_ms": round(quantile(latencies, 0.5) * 1000.0, 3),
            "sample_p99_ms": round(quantile(latencies, 0.99) * 1000.0, 3),
        }


def batch_record(summary: BatchSummary, *, namespace: str, emf: bool) -> dict[str, Any]:
    """The log record of a batch; with ``emf`` it is a valid EMF document as well."""
    figures = summary.figures()
    record: dict[str, Any] = {
        "level": "INFO",
        "message": "reward batch graded",
        "Reward": summary.reward,
        **figures,
        "error_reasons": dict(sorted(summary.error_reasons.items())),
    }
    if emf:
        record["_aws"] = {
            "Timestamp": int(time.time() * 1000),
            "CloudWatchMetrics": [
                {
                    "Namespace": namespace,
                    "Dimensions": [["Reward"]],
                    "Metrics": [{"Name": name, "Unit": unit} for _, name, unit in _EMF_FIELDS],
                }
            ],
        }
        for key, name, _ in _EMF_FIELDS:
            record[name] = figures[key]
    return record


def emit(record: Mapping[str, object], stream: TextIO | None = None) -> None:
    """Writes a record as one JSON line (stdout by default: Lambda ships it to CloudWatch Logs)."""
    out = sys.stdout if stream is None else stream
    out.write(json.dumps(record, separators=(",", ":"), default=str) + "\n")
    out.flush()


def log_event(level: str, message: str, **fields: object) -> None:
    """A one-line structured log of something other than a batch summary (figures only)."""
    emit({"level": level, "message": message, **fields}, sys.stderr)
