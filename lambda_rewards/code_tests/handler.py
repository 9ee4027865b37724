"""Lambda entry point of the ``code_tests`` reward: ``lambda_rewards.code_tests.handler.handler``.

Samples of a batch are graded on ``CODE_TESTS_WORKERS`` threads (each waits on its own child
processes); the contract keeps the order, the per-sample budget and the batch deadline.
"""

from __future__ import annotations

from typing import Any

from lambda_rewards.common.contract import make_handler

from .grader import DEFAULT_SAMPLE_TIMEOUT_S, SETTINGS, grade
from .sandbox import harden_this_process

_contract_handler = make_handler(
    grade,
    reward_name="code_tests",
    defaults={"sample_timeout_s": DEFAULT_SAMPLE_TIMEOUT_S},
    max_concurrency=SETTINGS.workers,
)
_hardened: list[bool] = []


def handler(event: Any, context: Any = None) -> list[dict]:
    if not _hardened and getattr(context, "invoked_function_arn", None):  # in Lambda: see sandbox
        _hardened.append(harden_this_process())
    return _contract_handler(event, context)
