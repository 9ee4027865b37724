"""Comparing a trained model with its base model on held-out prompts: statistics, report, plot.

Both models answer the same prompts and the same grader scores every answer; a prompt's score is
the mean over its samples. The comparison is **paired** (each prompt is its own control): the
difference of means equals the mean of per-prompt differences ``trained - base``, and its 95%
confidence interval is a **paired bootstrap** percentile interval: prompts are resampled with
replacement (10,000 times, fixed seed, so a report can be reproduced), the mean difference is taken
on each resample, and the 2.5th and 97.5th percentiles bound the interval. The bootstrap is used
rather than a paired t interval because rewards are bounded and often 0/1, far from normal on the
small held-out sets RFT uses; it needs no distributional assumption and stays inside [-1, 1].

The report is plain JSON (``build_report``); ``rft.evaluation_plot`` draws it.
"""

from __future__ import annotations

import json
import math
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rft import preflight

BOOTSTRAP_RESAMPLES = 10_000
BOOTSTRAP_SEED = 0
CONFIDENCE = 0.95
HISTOGRAM_BINS = preflight.HISTOGRAM_BINS
CI_METHOD = (
    f"paired bootstrap, percentile, {BOOTSTRAP_RESAMPLES:,} resamples of prompts, seed {BOOTSTRAP_SEED}"
)


@dataclass(frozen=True)
class PromptScores:
    """One held-out prompt: the grader's scores of each model's samples."""

    task_id: str
    trained: tuple[float, ...]
    base: tuple[float, ...]

    @property
    def trained_mean(self) -> float:
        return _mean(self.trained)

    @property
    def base_mean(self) -> float:
        return _mean(self.base)

    @property
    def difference(self) -> float:
        return self.trained_mean - self.base_mean


def grade_responses(
    reward: str,
    records: Sequence[Mapping[str, Any]],
    responses: Sequence[Sequence[str]],
    *,
    batch_size: int = 16,
    deadline_seconds: float = 300.0,
    handler: preflight.GraderHandler | None = None,
) -> tuple[list[tuple[float, ...]], preflight.PreflightReport]:
    """Score ``responses[i]`` (answers to dataset line ``records[i]``) with the reward's own handler,
    exactly as the reward preflight does; returns each prompt's scores and the preflight report.

    A result the contract does not allow (missing, for another id, outside [0, 1]) scores 0 here and
    is counted in the report's ``contract_violations``.
    """
    if len(records) != len(responses):
        raise ValueError("one list of responses per dataset line is needed")
    grade_batch = handler or preflight.load_handler(reward)
    results: dict[str, float] = {}

    def recording(batch: list[preflight.Sample], context: Any) -> list[Any]:
        answered = grade_batch(batch, context)
        if isinstance(answered, list) and len(answered) == len(batch):
            for sample, result in zip(batch, answered, strict=True):
                results[sample["id"]] = preflight._checked_score(sample, result) or 0.0
        return answered

    with tempfile.TemporaryDirectory(prefix="rft-grade-") as folder:
        data, answers = Path(folder, "data.jsonl"), Path(folder, "responses.jsonl")
        data.write_text("".join(json.dumps(record) + "\n" for record in records), encoding="utf-8")
        answers.write_text(
            "".join(json.dumps({"responses": list(texts)}) + "\n" for texts in responses), encoding="utf-8"
        )
        samples = list(preflight.load_samples(data, responses=answers))
        report = preflight.run_preflight(
            reward, samples, batch_size=batch_size, deadline_seconds=deadline_seconds, handler=recording
        )
    scores: list[tuple[float, ...]] = []
    position = 0
    for texts in responses:
        chunk = samples[position : position + len(texts)]
        scores.append(tuple(results.get(sample["id"], 0.0) for sample in chunk))
        position += len(texts)
    return scores, report


def _mean(values: Sequence[float]) -> float:
    return math.fsum(values) / len(values) if values else 0.0


def _std(values: Sequence[float]) -> float:
    if len(values) < 2:
        return 0.0
    mean = _mean(values)
    return math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (len(values) - 1))


def paired_bootstrap_ci(
    differences: Sequence[float],
    *,
    resamples: int = BOOTSTRAP_RESAMPLES,
    confidence: float = CONFIDENCE,
    seed: int = BOOTSTRAP_SEED,
) -> tuple[float, float]:
    """Percentile interval of the mean of ``differences`` over prompt resamples."""
    import numpy as np  # with matplotlib; imported here so the module loads without it

    n = len(differences)
    if n == 0:
        raise ValueError("no paired scores to compare")
    values = np.asarray(differences, dtype=float)
    rng = np.random.default_rng(seed)
    means = np.empty(resamples)
    chunk = max(1, 2_000_000 // n)  # bounded memory: at most ~16 MB of indices at a time
    for start in range(0, resamples, chunk):
        stop = min(resamples, start + chunk)
        means[start:stop] = values[rng.integers(0, n, size=(stop - start, n))].mean(axis=1)
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(means, [tail, 1.0 - tail])
    return float(low), float(high)


def summarize(values: Sequence[float]) -> dict[str, Any]:
    return {
        "mean": _mean(values),
        "std": _std(values),
        "n": len(values),
        "histogram": preflight._histogram(list(values)),  # the preflight report's bins
    }


def compare(prompts: Sequence[PromptScores]) -> dict[str, Any]:
    """Means of both models, the paired difference with its 95% interval, wins/losses/ties."""
    if not prompts:
        raise ValueError("no prompts were scored")
    trained = [p.trained_mean for p in prompts]
    base = [p.base_mean for p in prompts]
    differences = [p.difference for p in prompts]
    low, high = paired_bootstrap_ci(differences)
    return {
        "trained": summarize(trained),
        "base": summarize(base),
        "difference": {
            "mean": _mean(differences),
            "ci95": [low, high],
            "method": CI_METHOD,
            "significant": low > 0 or high < 0,
            "wins": sum(d > 0 for d in differences),
            "losses": sum(d < 0 for d in differences),
            "ties": sum(d == 0 for d in differences),
        },
    }


def build_report(
    *,
    name: str,
    environment: str,
    reward: str,
    dataset: str,
    trained_model: str,
    base_model: str,
    samples_per_prompt: int,
    sampling: Mapping[str, Any],
    prompts: Sequence[PromptScores],
    errors: Mapping[str, int] | None = None,
) -> dict[str, Any]:
    """The evaluation report (JSON-serializable)."""
    return {
        "schema_version": 1,
        "name": name,
        "environment": environment,
        "reward": reward,
        "dataset": dataset,
        "trained_model": trained_model,
        "base_model": base_model,
        "samples_per_prompt": samples_per_prompt,
        "sampling": dict(sampling),
        "prompts": len(prompts),
        "created_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        **compare(prompts),
        "grader_errors": dict(errors or {}),
        "per_prompt": [
            {
                "task_id": p.task_id,
                "trained": list(p.trained),
                "base": list(p.base),
                "difference": p.difference,
            }
            for p in prompts
        ],
    }
