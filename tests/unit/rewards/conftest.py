"""Helpers for the grader tests: samples in the Bedrock event shape and a clean environment."""

from __future__ import annotations

from typing import Any

import pytest


def make_sample(
    response: Any,
    reference: Any = None,
    *,
    sample_id: str = "s1",
    prompt: str = "What is the answer?",
    where: str = "metadata",
    **metadata: Any,
) -> dict:
    """A sample as Bedrock sends it; ``where`` puts the reference under ``metadata`` or at the top
    level; ``reference=None`` leaves it out."""
    sample: dict[str, Any] = {
        "id": sample_id,
        "messages": [
            {"role": "system", "content": "Answer carefully."},
            {"role": "user", "content": prompt},
            {"role": "assistant", "content": response},
        ],
        "metadata": dict(metadata),
    }
    if reference is not None:
        if where == "metadata":
            sample["metadata"]["reference_answer"] = reference
        else:
            sample["reference_answer"] = reference
    return sample


def scores(results: list[dict]) -> list[float]:
    return [result["aggregate_reward_score"] for result in results]


def metric_names(result: dict) -> set[str]:
    return {metric["name"] for metric in result["metrics_list"]}


class FakeContext:
    """A Lambda context whose remaining time is fixed at creation."""

    def __init__(self, remaining_seconds: float) -> None:
        import time

        self._deadline = time.monotonic() + remaining_seconds

    def get_remaining_time_in_millis(self) -> int:
        import time

        return max(0, int((self._deadline - time.monotonic()) * 1000))


@pytest.fixture(autouse=True)
def clean_reward_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Grader settings come from the environment: tests start from none of them."""
    import os

    for name in list(os.environ):
        if name.startswith(("REWARD_", "MATH_", "JSON_", "JUDGE_")):
            monkeypatch.delenv(name, raising=False)
