"""code_tests attack: running with the grader's privileges.

Run as root (CI, containers), a child that keeps uid 0 and its capabilities reads every process's
memory whatever their dumpable flag says, and every root-owned file. Every child drops all
capabilities and sets no_new_privs, and as root switches to an unprivileged uid/gid, before any
candidate code runs; where it cannot, nothing runs (fail closed)."""

from __future__ import annotations

import os
import textwrap
import time

import pytest

from lambda_rewards.code_tests.hardening import COMPLETE
from lambda_rewards.code_tests.launcher import EXIT_SANDBOX, LAUNCHER
from tests.unit.rewards.code_tests_helpers import fenced, grade

PROBE = textwrap.dedent(
    """
    import os

    def status():
        fields = {}
        with open("/proc/self/status") as handle:
            for line in handle:
                key, _, value = line.partition(":")
                fields[key] = value.split()
        return fields

    def regain():
        for action in (lambda: os.setuid(0), lambda: os.setgid(0), lambda: os.setgroups([0])):
            try:
                action()
                return True
            except OSError:
                pass
        return False

    def privileges():
        fields = status()
        caps = {key: int(fields[key][0], 16) for key in ("CapInh", "CapPrm", "CapEff", "CapAmb")}
        return {
            "uids": [int(value) for value in fields["Uid"] + fields["Gid"]],
            "groups": [int(value) for value in fields.get("Groups", [])],
            "caps": caps,
            "no_new_privs": fields["NoNewPrivs"],
            "seccomp": fields["Seccomp"],
            "regained": regain(),
        }
    """
)
REFERENCE = {
    "entry_point": "privileges",
    "test": textwrap.dedent(
        """
        def check(candidate):
            seen = candidate()
            assert all(value != 0 for value in seen["uids"])
            assert 0 not in seen["groups"]
            assert set(seen["caps"].values()) == {0}
            assert seen["no_new_privs"] == ["1"] and seen["seccomp"] == ["2"]
            assert seen["regained"] is False
        """
    ),
}


@pytest.mark.slow
def test_candidates_run_unprivileged():
    result = grade(fenced(PROBE), REFERENCE)
    assert (result.score, result.error) == (1.0, None), result
    assert result.metrics["sandboxed"] == 1.0


@pytest.mark.slow
def test_a_child_that_cannot_harden_refuses_to_run():
    # What the launcher does when a step does not hold (here: hardening skipped on request).
    request = {
        "mode": "program",
        "limits": (2, 256 << 20, 1 << 20, 1, 64),
        "harden": False,
        "strict": True,
        "stdin": False,
        "stdout": False,
    }
    ctrl_r, ctrl_w = os.pipe()
    cwd_fd = os.open("/", os.O_RDONLY | os.O_DIRECTORY)
    try:
        pid, status_fd = LAUNCHER.spawn(request, [cwd_fd, ctrl_r])
    finally:
        os.close(cwd_fd)
        os.close(ctrl_r)
    os.close(ctrl_w)
    deadline = time.monotonic() + 10
    data = b""
    while time.monotonic() < deadline:
        chunk = os.read(status_fd, 4)
        if not chunk:
            break
        data += chunk
    os.close(status_fd)
    assert pid > 0 and os.waitstatus_to_exitcode(int.from_bytes(data, "big")) == EXIT_SANDBOX


def test_the_complete_sandbox_holds_here():
    # The machines this suite runs on allow every step; if one stops holding, say which.
    from lambda_rewards.code_tests.sandbox import hardening_flags

    assert hardening_flags() == COMPLETE
    assert LAUNCHER.grader_undumpable


@pytest.mark.slow
def test_a_launcher_that_died_is_replaced_by_a_fresh_one():
    # Killed by the system (memory) or by a candidate in the degraded mode: the next run starts a
    # new launcher, exec'd like the first, so it still holds nothing.
    LAUNCHER.start()
    assert LAUNCHER._process is not None
    LAUNCHER._process.kill()
    LAUNCHER._process.wait()
    reference = {"entry_point": "f", "test": "def check(candidate):\n    assert candidate() == 1\n"}
    assert grade(fenced("def f():\n    return 1\n"), reference).score == 1.0
    assert LAUNCHER._process is not None and LAUNCHER._process.poll() is None


@pytest.mark.slow
def test_children_of_a_launcher_killed_mid_run_do_not_survive_the_run():
    # The test kills the launcher while the candidate sleeps: its children become orphans, which the
    # run must still kill (their exit status will never come).
    import threading

    code = "import time\ndef f():\n    time.sleep(5)\n    return 1\n"
    LAUNCHER.start()
    assert LAUNCHER._process is not None
    victim = LAUNCHER._process
    threading.Timer(0.5, victim.kill).start()
    reference = {"entry_point": "f", "test": "def check(candidate):\n    assert candidate() == 1\n"}
    before = {int(p) for p in os.listdir("/proc") if p.isdigit()}
    grade(fenced(code), reference, seconds=1.0)
    victim.wait()
    time.sleep(0.2)
    survivors = []
    for pid in {int(p) for p in os.listdir("/proc") if p.isdigit()} - before:
        try:
            with open(f"/proc/{pid}/status") as handle:
                status = handle.read()
        except OSError:
            continue
        # Ours: the sandbox user, orphaned (other sessions' children have a live launcher).
        orphan = any(line == f"PPid:\t{ppid}" for line in status.splitlines() for ppid in (1, victim.pid))
        if "\nUid:\t65534" in status and "State:\tZ" not in status and orphan:
            survivors.append(pid)
    assert survivors == []
