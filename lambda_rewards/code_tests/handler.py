"""Lambda entry point of the ``code_tests`` reward: ``lambda_rewards.code_tests.handler.handler``.

Samples of a batch are graded on ``CODE_TESTS_WORKERS`` threads (each waits on its own child
processes); the contract keeps the order, the per-sample budget and the batch deadline.

At import (the Lambda's cold start, before any event is read) the grader makes itself
non-dumpable, starts the launcher (``launcher.py``) and probes the sandbox once; one log line
says which hardening steps hold here, the figure that confirms or refutes what
``rft/assumptions.py`` believes about AWS Lambda.
"""

from __future__ import annotations

import os

from lambda_rewards.common.contract import make_handler
from lambda_rewards.common.metrics import log_event

from .grader import DEFAULT_SAMPLE_TIMEOUT_S, SETTINGS, grade
from .launcher import LAUNCHER, SandboxError
from .sandbox import hardening_flags, sandbox_available

handler = make_handler(
    grade,
    reward_name="code_tests",
    defaults={"sample_timeout_s": DEFAULT_SAMPLE_TIMEOUT_S},
    max_concurrency=SETTINGS.workers,
)


def _start_sandbox() -> None:
    try:
        LAUNCHER.start()
    except SandboxError as exc:
        log_event("ERROR", "code_tests sandbox: launcher failed", reason=str(exc)[:300])
        return
    log_event(
        "INFO" if sandbox_available() else "WARNING",
        "code_tests sandbox",
        grader_undumpable=LAUNCHER.grader_undumpable,
        child_hardening=hardening_flags(),
        complete=sandbox_available(),
        euid=os.geteuid(),
        allow_unsandboxed=SETTINGS.allow_unsandboxed,
    )


_start_sandbox()
