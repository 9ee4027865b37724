"""code_tests attack: acting on another process without kill().

``fcntl(F_SETOWN, pid)`` (or ``F_SETOWN_EX``, ``ioctl(FIOSETOWN)``) plus ``F_SETSIG(SIGKILL)`` and
``O_ASYNC`` on a pipe the candidate owns make the kernel deliver SIGKILL to ``pid`` on the next
write, whatever the filter says about ``kill``: the grader and its whole batch would die. The same
class: lowering another process's limits (``prlimit``), pinning or renicing it. Each attempt here
aims at a sacrificial process that the test owns and checks it is untouched afterwards."""

from __future__ import annotations

import os
import re
import resource
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from lambda_rewards.code_tests import hardening
from tests.unit.rewards.code_tests_helpers import fenced, grade

ATTACK = textwrap.dedent(
    """
    import fcntl, os, resource, signal, struct

    def attempt(name, action, done):
        try:
            action()
            done.append(name)
        except OSError:
            pass

    def arm(pid, how):
        r, w = os.pipe()
        if how == "setown":
            fcntl.fcntl(r, fcntl.F_SETOWN, pid)
        elif how == "setown_ex":
            fcntl.fcntl(r, 15, struct.pack("ii", 1, pid))  # F_SETOWN_EX, F_OWNER_PID
        else:
            fcntl.ioctl(r, 0x8901, struct.pack("i", pid))  # FIOSETOWN
        try:
            fcntl.fcntl(r, 10, signal.SIGKILL)  # F_SETSIG
        except OSError:
            pass
        fcntl.fcntl(r, fcntl.F_SETFL, fcntl.fcntl(r, fcntl.F_GETFL) | os.O_ASYNC)
        os.write(w, b"x")  # the kernel signals the owner now

    def act(pid):
        done = []
        for how in ("setown", "setown_ex", "fiosetown"):
            attempt(how, lambda: arm(pid, how), done)
        attempt("prlimit", lambda: resource.prlimit(pid, resource.RLIMIT_NOFILE, (3, 3)), done)
        attempt("affinity", lambda: os.sched_setaffinity(pid, {0}), done)
        attempt("nice", lambda: os.setpriority(os.PRIO_PROCESS, pid, 19), done)
        return done
    """
)
REFERENCE = {"entry_point": "act", "test": "def check(candidate):\n    assert candidate(VICTIM) == []\n"}


@pytest.fixture
def victim():
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        yield process
    finally:
        process.kill()
        process.wait()


@pytest.mark.slow
def test_a_candidate_cannot_signal_limit_or_pin_another_process(victim):
    limits = resource.prlimit(victim.pid, resource.RLIMIT_NOFILE)
    affinity = os.sched_getaffinity(victim.pid)
    priority = os.getpriority(os.PRIO_PROCESS, victim.pid)
    reference = {**REFERENCE, "test": REFERENCE["test"].replace("VICTIM", str(victim.pid))}
    result = grade(fenced(ATTACK), reference)
    assert victim.poll() is None, "the candidate killed another process"
    assert resource.prlimit(victim.pid, resource.RLIMIT_NOFILE) == limits
    assert os.sched_getaffinity(victim.pid) == affinity
    assert os.getpriority(os.PRIO_PROCESS, victim.pid) == priority
    assert result.score == 1.0, result  # every attempt was refused, and the candidate could say so


IPC = textwrap.dedent(
    """
    import ctypes, os

    def reach():
        libc = ctypes.CDLL(None, use_errno=True)
        created = []
        for name, call in (
            ("shm", lambda: libc.shmget(0, 4096, 0o1600)),  # IPC_PRIVATE, IPC_CREAT | 0600
            ("msg", lambda: libc.msgget(0, 0o1600)),
            ("sem", lambda: libc.semget(0, 1, 0o1600)),
            ("mq", lambda: libc.mq_open(b"/rft-probe", os.O_CREAT | os.O_RDWR, 0o600, None)),
        ):
            try:
                if call() >= 0:
                    created.append(name)
            except Exception:
                pass
        return created
    """
)


@pytest.mark.slow
def test_a_candidate_cannot_open_ipc_objects_shared_with_other_processes():
    # System V and POSIX message queues, semaphores and shared memory outlive the process and are
    # reachable by id or name from every other process of the user: a channel between samples.
    reference = {"entry_point": "reach", "test": "def check(candidate):\n    assert candidate() == []\n"}
    result = grade(fenced(IPC), reference)
    assert result.score == 1.0, result


HEADERS = {
    "x86_64": Path("/usr/include/x86_64-linux-gnu/asm/unistd_64.h"),
    "aarch64": Path("/usr/include/asm-generic/unistd.h"),  # arm64 uses the generic table
}


@pytest.mark.parametrize("machine", sorted(HEADERS))
def test_the_filter_numbers_are_the_kernels(machine):
    # AWS Lambda runs arm64 here: a wrong number would leave a call open on one architecture only.
    header = HEADERS[machine]
    if not header.exists():
        pytest.skip(f"{header} is not installed")
    numbers = {
        match[1]: int(match[2])
        for match in re.finditer(r"^#define __NR(?:3264)?_(\w+)\s+(\d+)\s*$", header.read_text(), re.M)
    }
    _, restricted, read_only = hardening._SYSCALLS[machine]
    table = {**restricted, **read_only}
    # Calls newer than the installed headers (fchmodat2, Linux 6.6) cannot be checked here.
    known = {name: number for name, number in table.items() if name in numbers}
    assert len(known) >= len(table) - 2
    assert {name: number for name, number in known.items() if numbers[name] != number} == {}
    # A call the table leaves out on this architecture (None) must not exist here at all.
    column = [name for name, _ in hardening._ARCHITECTURES].index(machine)
    left_out = {name for name, row in hardening._NUMBERS.items() if row[column] is None}
    assert left_out & set(numbers) == set()


def test_every_call_the_filter_names_has_its_numbers():
    # The answers are chosen by name: a name missing from the numbers table would deny nothing.
    named = hardening._READ_ONLY | hardening._CHECKED | {"clone", "fork", "vfork", "clone3", "openat2"}
    assert named - set(hardening._NUMBERS) == set()
