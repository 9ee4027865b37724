"""Shared helpers of the code_tests attack suites: grade one answer, fence code, and the /proc
readers the attacks are built from."""

from __future__ import annotations

import textwrap
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


# Candidate code (prepended to an attack's source): what a process may learn of another one through
# /proc. Each reader returns nothing where the sandbox denies it.
PROC_READERS = textwrap.dedent(
    r"""
    import os

    def memory_chunks(pid, perms_prefix):
        # The regions of pid's memory whose permissions start with perms_prefix (each under 64 MB).
        try:
            with open(f"/proc/{pid}/maps") as handle:
                regions = handle.read().splitlines()
            with open(f"/proc/{pid}/mem", "rb", buffering=0) as memory:
                for region in regions:
                    span, perms = region.split()[:2]
                    start, end = (int(value, 16) for value in span.split("-"))
                    if not perms.startswith(perms_prefix) or end - start > 64 << 20:
                        continue
                    try:
                        memory.seek(start)
                        chunk = memory.read(end - start)
                    except (OSError, OverflowError, ValueError):
                        continue
                    yield chunk
        except OSError:
            return

    def parent_of(pid):
        try:
            with open(f"/proc/{pid}/stat") as handle:
                return int(handle.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            return None
    """
)
