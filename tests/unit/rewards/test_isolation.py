"""Killable workers: results cross as JSON, overruns are stopped (softly, or by a kill), a dead
worker is replaced, and nothing is left running."""

from __future__ import annotations

import contextlib
import os
import signal
import time

import pytest

from lambda_rewards.common.isolation import (
    InProcessTimeout,
    IsolatedRunner,
    WorkerCrashed,
    WorkerFailed,
    WorkerTimeout,
    soft_time_limit,
)

TARGET = "tests.unit.rewards.worker_targets:work"


@pytest.fixture
def runner():
    runner = IsolatedRunner(TARGET, warmup="tests.unit.rewards.worker_targets:warm", memory_mb=128)
    yield runner
    runner.close()


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split()[2] != "Z"
    except OSError:
        return False


def overrun(runner, work: dict) -> str:
    """Runs `work` past a 0.3 s limit, which must time out; how it was stopped. The call cannot
    outlast its limit: the handler side waits for the answer that long and then kills, so which way
    it ended (soft limit or kill, with the runner's counters) is what the tests assert, not the
    seconds it took, which a loaded machine stretches."""
    with pytest.raises(WorkerTimeout) as stopped:
        runner.call(work, 0.3)
    return str(stopped.value)


def gone(*pids: int) -> bool:
    """Whether every process of `pids` has ended (given up to 2 s to do so)."""
    deadline = time.monotonic() + 2
    while any(alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.01)
    return not any(alive(pid) for pid in pids)


def test_work_runs_in_a_warm_separate_process(runner):
    assert runner.call({"kind": "echo", "value": [1, "two", None]}, 2.0) == [1, "two", None]
    assert runner.call({"kind": "warmed"}, 2.0) is True
    assert runner.call({"kind": "pid"}, 2.0) != os.getpid()


def test_the_worker_is_reused_between_calls(runner):
    first = runner.call({"kind": "pid"}, 2.0)
    assert runner.call({"kind": "pid"}, 2.0) == first
    assert runner.stats["workers"] == 1


def test_pure_python_overrun_is_stopped_without_a_kill(runner):
    worker = runner.call({"kind": "pid"}, 2.0)
    assert overrun(runner, {"kind": "sleep", "seconds": 5}) == "worker stopped at the soft limit"
    assert runner.stats["soft_timeouts"] == 1 and runner.stats["kills"] == 0
    assert runner.call({"kind": "pid"}, 2.0) == worker


def test_a_result_computed_after_a_swallowed_time_limit_is_void(runner):
    overrun(runner, {"kind": "swallow", "seconds": 5})
    assert runner.call({"kind": "echo", "value": 3}, 2.0) == 3


def test_work_that_ignores_signals_is_killed_and_replaced(runner):
    worker = runner.call({"kind": "pid"}, 2.0)
    assert overrun(runner, {"kind": "deaf", "seconds": 30}) == "worker killed at the hard limit"
    assert runner.stats["kills"] == 1
    assert gone(worker)
    replacement = runner.call({"kind": "pid"}, 2.0)
    assert replacement != worker
    assert runner.call({"kind": "warmed"}, 2.0) is True  # forked from the warm zygote


def test_an_exception_reports_its_type_only(runner):
    with pytest.raises(WorkerFailed) as raised:
        runner.call({"kind": "raise"}, 2.0)
    assert str(raised.value) == "KeyError"
    assert "secret" not in str(raised.value)
    assert runner.call({"kind": "echo", "value": 1}, 2.0) == 1


def test_a_dying_worker_is_a_crash_and_is_replaced(runner):
    with pytest.raises(WorkerCrashed):
        runner.call({"kind": "exit"}, 2.0)
    assert runner.call({"kind": "echo", "value": "again"}, 2.0) == "again"


def test_a_runaway_allocation_is_a_memory_error_in_the_worker(runner):
    with pytest.raises(WorkerFailed, match="MemoryError"):
        runner.call({"kind": "allocate", "megabytes": 1024}, 5.0)
    assert runner.call({"kind": "echo", "value": 2}, 2.0) == 2


def test_a_result_that_is_not_json_is_a_failure(runner):
    with pytest.raises(WorkerFailed, match="Unserializable"):
        runner.call({"kind": "object"}, 2.0)


def test_workers_retire_after_max_tasks():
    runner = IsolatedRunner(TARGET, max_tasks=2)
    try:
        pids = [runner.call({"kind": "pid"}, 2.0) for _ in range(5)]
        assert pids[0] == pids[1] != pids[2] == pids[3] != pids[4]
    finally:
        runner.close()


def test_close_kills_zygote_and_worker():
    runner = IsolatedRunner(TARGET)
    worker = runner.call({"kind": "pid"}, 2.0)
    zygote = runner._zygote_pid
    runner.close()
    assert gone(worker, zygote)


def test_a_missing_target_fails_to_start():
    runner = IsolatedRunner("tests.unit.rewards.no_such_module:work")
    try:
        with pytest.raises(WorkerCrashed, match="ModuleNotFoundError"):
            runner.call({}, 2.0)
    finally:
        runner.close()


def test_close_right_after_start_does_not_hang():
    for _ in range(20):
        runner = IsolatedRunner(TARGET)
        with contextlib.suppress(WorkerTimeout):  # the zygote may or may not be warm already
            runner.ensure_ready(0.0)
        zygote = runner._zygote_pid
        runner.close()
        assert runner._zygote_pid is None and gone(zygote)  # reaped, not left behind


def test_no_time_left_is_a_timeout(runner):
    with pytest.raises(WorkerTimeout):
        runner.call({"kind": "echo", "value": 1}, 0.0)


def test_soft_time_limit_interrupts_python_and_is_reusable():
    started = time.monotonic()
    # The loop ends by itself only after a minute: an exception inside it is the limit firing.
    with pytest.raises(InProcessTimeout), soft_time_limit(0.1):
        while time.monotonic() - started < 60:
            pass
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)  # disarmed on the way out
    with soft_time_limit(1.0):
        value = sum(range(1000))
    assert value == 499500
