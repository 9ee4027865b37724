"""The math grader as its attack suites call it: the deployed ``grade`` with a generous per-sample
budget, so a right answer is not scored 0 by a timeout on a loaded test machine. A timeout can
only lower a score, so wrong answers are tested exactly as strictly."""

from __future__ import annotations

import io
from contextlib import redirect_stdout

from lambda_rewards.common.contract import make_handler
from lambda_rewards.math_answer import handler as math

PATIENT_HANDLER = make_handler(math.grade, reward_name="math_answer", defaults={"sample_timeout_s": 30.0})


def grade_all(samples: list[dict]) -> list[dict]:
    """Results of one batch through the handler, its log lines kept off the test output."""
    with redirect_stdout(io.StringIO()):
        return PATIENT_HANDLER(samples, None)
