"""A Mantle job's per-step training metrics: reading them from the job's events, saving them as
JSON lines, and the small summary a model record keeps."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rft.mantle import call_mantle

REWARD_METRIC = "critic_rewards_mean"


@dataclass(frozen=True)
class StepMetrics:
    step: int
    total_steps: int | None
    values: Mapping[str, float]
    created_at: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "total_steps": self.total_steps,
            "created_at": self.created_at,
            **self.values,
        }


def list_step_metrics(client: Any, job_id: str, *, page_size: int = 100) -> list[StepMetrics]:
    """Every per-step metrics event of a job, one per step (the latest wins), by step."""

    def collect() -> list[StepMetrics]:
        by_step: dict[int, StepMetrics] = {}
        for event in client.fine_tuning.jobs.list_events(job_id, limit=page_size):
            metrics = parse_metrics_event(event)
            if metrics is None:
                continue
            known = by_step.get(metrics.step)
            if known is None or (metrics.created_at or 0) >= (known.created_at or 0):
                by_step[metrics.step] = metrics
        return [by_step[step] for step in sorted(by_step)]

    return call_mantle(collect, f"list events of job {job_id}")


def parse_metrics_event(event: Any) -> StepMetrics | None:
    """A metrics event → StepMetrics; None for other events (messages, status changes)."""
    data = getattr(event, "data", None) if not isinstance(event, Mapping) else event.get("data")
    if not isinstance(data, Mapping):
        return None
    step = data.get("step")
    if isinstance(step, bool) or not isinstance(step, int | float):
        return None
    total = data.get("total_steps")
    values = {
        str(key): float(value)
        for key, value in data.items()
        if key not in ("step", "total_steps")
        and isinstance(value, int | float)
        and not isinstance(value, bool)
    }
    created = (
        getattr(event, "created_at", None) if not isinstance(event, Mapping) else event.get("created_at")
    )
    return StepMetrics(
        step=int(step),
        total_steps=int(total) if isinstance(total, int | float) and not isinstance(total, bool) else None,
        values=values,
        created_at=created,
    )


def metrics_jsonl(metrics: Iterable[StepMetrics]) -> str:
    """The per-step metrics as JSON lines (what the workflow saves to the artifacts bucket)."""
    return "".join(json.dumps(m.to_dict(), sort_keys=True) + "\n" for m in metrics)


def summarize_metrics(
    metrics: Sequence[StepMetrics], *, reward_metric: str = REWARD_METRIC, max_points: int = 100
) -> dict[str, Any]:
    """A small summary for the model record: progress, the reward's first/last/best, the last
    values of every metric, and a thinned reward series (at most ``max_points`` points)."""
    if not metrics:
        return {}
    last = metrics[-1]
    rewards = [(m.step, m.values[reward_metric]) for m in metrics if reward_metric in m.values]
    summary: dict[str, Any] = {
        "steps_reported": len(metrics),
        "last_step": last.step,
        "total_steps": last.total_steps,
        "last": dict(last.values),
    }
    if rewards:
        summary["reward_metric"] = reward_metric
        summary["reward_first"] = rewards[0][1]
        summary["reward_last"] = rewards[-1][1]
        summary["reward_max"] = max(value for _, value in rewards)
        stride = max(1, -(-len(rewards) // max_points))
        series = rewards[::stride]
        if series[-1] != rewards[-1]:
            series.append(rewards[-1])
        summary["series"] = {reward_metric: [[step, round(value, 6)] for step, value in series]}
    return summary
