"""``grade(sample, budget)`` for code answers: extract the code, run it against the reference's tests
in the sandbox, score the pass fraction. See the package docstring for the design."""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass

from lambda_rewards.common.contract import Budget, Grade, Sample
from lambda_rewards.common.settings import env_bool, env_float, env_int

from .extract import (
    MAX_CODE_CHARS,
    BadReference,
    CasesSpec,
    CheckSpec,
    answer_text,
    extract_code,
    normalize_output,
    parse_reference,
    prompt_from_messages,
)
from .sandbox import Limits, SandboxError, run_check, run_program, sandbox_available

DEFAULT_SAMPLE_TIMEOUT_S = 6.0
_MIN_RUN_S = 0.05  # below this there is no point starting an interpreter
_STDOUT_SLACK = 64 * 1024


@dataclass(frozen=True)
class CodeSettings:
    """``CODE_TESTS_*`` environment variables (read once, at cold start):

    CODE_TESTS_MEMORY_MB        address-space limit of every child process (default 256).
    CODE_TESTS_CASE_TIME_LIMIT_S  CPU seconds a stdin/stdout case may use when the reference sets no
                                ``time_limit`` (default 2); its wall-clock limit is twice that + 0.5 s.
    CODE_TESTS_WORKERS          sandboxed runs at the same time, samples of a batch graded
                                concurrently (default: 2 per CPU, at most 8; on Lambda 1 under
                                1769 MB, else one per CPU, at most 4).
    CODE_TESTS_ALLOW_UNSANDBOXED  UNSAFE. true: grade even where the sandbox cannot be established
                                (AWS Lambda forbids prctl), with whatever hardening holds. Default
                                false: such samples score 0 with ``error_sandbox_unavailable``.
    """

    memory_mb: int
    case_time_limit_s: float
    workers: int
    allow_unsandboxed: bool = False


def load_code_settings(environ: Mapping[str, str] | None = None) -> CodeSettings:
    env = os.environ if environ is None else environ
    lambda_mb = env.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "")
    # A run spends most of its time waiting (pipes, forks, the scheduler): two runs per CPU keep
    # the CPUs busy. On Lambda, memory is the bound (each run may use 2 x CODE_TESTS_MEMORY_MB).
    default_workers = min(8, 2 * (os.cpu_count() or 1))
    if lambda_mb.isdigit():
        default_workers = 1 if int(lambda_mb) < 1769 else min(4, os.cpu_count() or 1)  # < one vCPU
    return CodeSettings(
        memory_mb=env_int("CODE_TESTS_MEMORY_MB", 256, minimum=64, maximum=16384, environ=env),
        case_time_limit_s=env_float(
            "CODE_TESTS_CASE_TIME_LIMIT_S", 2.0, minimum=0.1, maximum=60.0, environ=env
        ),
        workers=env_int("CODE_TESTS_WORKERS", default_workers, minimum=1, maximum=64, environ=env),
        allow_unsandboxed=env_bool("CODE_TESTS_ALLOW_UNSANDBOXED", False, environ=env),
    )


SETTINGS = load_code_settings()
_slots = threading.BoundedSemaphore(SETTINGS.workers)


def _cpu_limit(seconds: float) -> int:
    return max(1, math.ceil(seconds))


def grade(sample: Sample, budget: Budget) -> Grade:
    deadline = time.monotonic() + budget.for_sample()
    try:
        spec = parse_reference(sample.reference, prompt_from_messages(sample.messages))
    except BadReference:
        return Grade(0.0, error="bad_reference")
    answer = answer_text(sample.response)
    if not answer.strip():
        # Cut off inside its reasoning (or empty): a half-thought is not an answer.
        return Grade(0.0, error="no_answer" if sample.response.strip() else "no_code")
    code = extract_code(answer, spec.entry if isinstance(spec, CheckSpec) else None)
    if not code.strip():
        return Grade(0.0, error="no_code")
    if len(code) > MAX_CODE_CHARS:
        return Grade(0.0, error="code_too_large")
    if not SETTINGS.allow_unsandboxed and not sandbox_available():
        return Grade(0.0, error="sandbox_unavailable")  # fail closed: nothing runs
    try:
        if isinstance(spec, CheckSpec):
            return _grade_check(spec, code, deadline)
        return _grade_cases(spec, code, deadline)
    except SandboxError:
        return Grade(0.0, error="sandbox_error")


def _acquire(deadline: float) -> bool:
    remaining = deadline - time.monotonic()
    return remaining > _MIN_RUN_S and _slots.acquire(timeout=remaining)


def _grade_check(spec: CheckSpec, code: str, deadline: float) -> Grade:
    if not _acquire(deadline):
        return Grade(0.0, {"timeouts": 1.0}, error="timeout")
    try:
        run = run_check(
            code=spec.assemble(code),
            entry=spec.entry,
            test_code=spec.test_code,
            prompt_code=spec.prompt_code,
            units=spec.units,
            seed=spec.seed,
            deadline=deadline,
            limits=Limits(cpu_seconds=_cpu_limit(deadline - time.monotonic()), memory_mb=SETTINGS.memory_mb),
            strict=not SETTINGS.allow_unsandboxed,
        )
    finally:
        _slots.release()
    total = max(1, spec.units)
    passed = sum(1 for index, ok in run.units.items() if ok and index < total)
    metrics = {
        "tests": float(total),
        "tests_passed": float(passed),
        "timeouts": float(run.timed_out),
        "load_error": float(run.load is not None and run.load != "ok"),
        "sandboxed": float(run.sandboxed),
        "run_seconds": round(run.seconds, 4),
    }
    if run.sandbox_unavailable:
        return Grade(0.0, metrics, error="sandbox_unavailable")
    if run.protocol_error:
        return Grade(0.0, metrics, error="protocol_error")
    if run.end == "bad_reference":
        return Grade(0.0, metrics, error="bad_reference")
    if run.timed_out and passed == 0:
        return Grade(0.0, metrics, error="timeout")
    return Grade(_check_score(passed, total, partial_credit=spec.partial_credit), metrics)


def _check_score(passed: int, total: int, *, partial_credit: bool) -> float:
    """HumanEval's pass@1 semantics: all units or nothing. A stub returning None passes every
    ``assert not candidate(x)``; paying the fraction would pay it for doing nothing, so only a
    reference that opts in (``"partial_credit": true``) gets the fraction."""
    if partial_credit:
        return passed / total
    return 1.0 if passed == total else 0.0


def _grade_cases(spec: CasesSpec, code: str, deadline: float) -> Grade:
    time_limit = spec.time_limit or SETTINGS.case_time_limit_s
    limits = Limits(cpu_seconds=_cpu_limit(time_limit), memory_mb=SETTINGS.memory_mb)
    started = time.monotonic()
    passed = timeouts = 0
    syntax_error = False
    for case in spec.cases:
        if not _acquire(deadline):
            timeouts += 1
            break
        try:
            run = run_program(
                code=code,
                stdin=case.stdin.encode("utf-8", "surrogatepass"),
                deadline=min(deadline, time.monotonic() + 2 * time_limit + 0.5),
                limits=limits,
                stdout_cap=2 * len(case.stdout.encode("utf-8", "surrogatepass")) + _STDOUT_SLACK,
                strict=not SETTINGS.allow_unsandboxed,
            )
        finally:
            _slots.release()
        if run.sandbox_unavailable:
            return Grade(0.0, error="sandbox_unavailable")
        if run.syntax_error:
            syntax_error = True
            break
        timeouts += run.timed_out
        output = normalize_output(run.stdout.decode("utf-8", "surrogateescape"))
        if run.returncode == 0 and not run.overflow and output == normalize_output(case.stdout):
            passed += 1
    total = len(spec.cases)
    metrics = {
        "tests": float(total),
        "tests_passed": float(passed),
        "timeouts": float(timeouts),
        "load_error": float(syntax_error),
        "sandboxed": float(sandbox_available()),
        "run_seconds": round(time.monotonic() - started, 4),
    }
    if timeouts and passed == 0:
        return Grade(0.0, metrics, error="timeout")
    return Grade(passed / total, metrics)
