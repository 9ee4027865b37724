"""Shared helpers of the code_tests attack suites: grade one answer, fence code."""

from __future__ import annotations

import time

from lambda_rewards.code_tests import grader
from lambda_rewards.common.contract import Budget, Grade, Sample


def fenced(code: str) -> str:
    return f"Here is my solution.\n\n```python\n{code}```\n"


def grade(response: str, reference, *, seconds: float = 6.0, prompt: str | None = None) -> Grade:
    """``grader.grade`` on one sample; ``prompt`` becomes the last user message."""
    messages = [] if prompt is None else [{"role": "user", "content": prompt}]
    sample = Sample(id="s", messages=messages, response=response, reference=reference, metadata={})
    return grader.grade(sample, Budget(seconds, time.monotonic() + 60))
