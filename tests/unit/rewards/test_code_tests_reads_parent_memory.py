"""code_tests attack: reading the secrets of other processes through /proc.

The grader holds the batch's references and the function's credentials; the judge holds the tests.
A candidate that reads ``/proc/<pid>/mem`` or ``/proc/<pid>/environ`` of its parent (or of any
process it can find) learns the expected answers and the credentials. Here the secret is both the
answer the test expects and the grader's ``AWS_SECRET_ACCESS_KEY``: a candidate earns the reward
only by reading it out of another process."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import textwrap

import pytest

from lambda_rewards.code_tests import grader
from tests.unit.rewards.code_tests_helpers import PROC_READERS, fenced, grade

SCAN = PROC_READERS + textwrap.dedent(
    r"""
    import os, re

    PATTERN = re.compile(rb"RFT_SECRET_[0-9a-f]{32}")

    def scan_process(pid, found):
        try:
            with open(f"/proc/{pid}/environ", "rb") as handle:
                found.update(match.decode() for match in PATTERN.findall(handle.read()))
        except OSError:
            pass
        for chunk in memory_chunks(pid, "r"):
            found.update(match.decode() for match in PATTERN.findall(chunk))

    def leak():
        # The parent first, then its other children (the judge), then everything else.
        parent = os.getppid()
        pids = [int(name) for name in os.listdir("/proc") if name.isdigit() and int(name) != os.getpid()]
        siblings = [pid for pid in pids if parent_of(pid) == parent]
        found = set()
        for pid in [parent, *siblings, *pids]:
            scan_process(pid, found)
            if found:
                break
        return sorted(found)
    """
)


def _reference(secret: str) -> dict:
    return {"entry_point": "leak", "test": f"def check(candidate):\n    assert {secret!r} in candidate()\n"}


@pytest.mark.slow
def test_the_scan_finds_a_secret_it_is_allowed_to_read():
    # Control: the same code, run where reading is permitted, does find a secret in memory.
    secret = "RFT_SECRET_" + secrets.token_hex(16)
    holder = subprocess.Popen(
        [sys.executable, "-c", f"import time\nkept = {secret!r}\ntime.sleep(30)"],
        env={**os.environ, "HELD": secret},
    )
    try:
        namespace: dict = {}
        exec(SCAN, namespace)
        found: set = set()
        namespace["scan_process"](holder.pid, found)
        assert secret in found
    finally:
        holder.kill()
        holder.wait()


@pytest.mark.slow
def test_a_candidate_cannot_read_the_grader_or_the_judge(monkeypatch):
    secret = "RFT_SECRET_" + secrets.token_hex(16)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
    result = grade(fenced(SCAN), _reference(secret), seconds=20.0)
    assert (result.score, result.metrics.get("tests_passed")) == (0.0, 0.0), result
    assert result.metrics["sandboxed"] == 1.0 and result.error is None


@pytest.mark.slow
@pytest.mark.skipif(os.geteuid() != 0, reason="reading another process's memory needs root here")
def test_the_launcher_holds_no_credential_and_no_reference(monkeypatch):
    # The candidates' parent: whatever it held, a candidate that got at it would learn nothing.
    from lambda_rewards.code_tests.launcher import CHILD_ENV, LAUNCHER

    secret = "RFT_SECRET_" + secrets.token_hex(16)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
    reference = {"entry_point": "f", "test": f"def check(candidate):\n    assert candidate() != {secret!r}\n"}
    assert grade(fenced("def f():\n    return 1\n"), reference).score == 1.0
    assert LAUNCHER._process is not None
    namespace: dict = {}
    exec(SCAN, namespace)
    found: set = set()
    namespace["scan_process"](LAUNCHER._process.pid, found)
    assert found == set()
    with open(f"/proc/{LAUNCHER._process.pid}/environ", "rb") as handle:
        names = {entry.split(b"=")[0].decode() for entry in handle.read().split(b"\0") if entry}
    assert names == set(CHILD_ENV)
    assert grader.SETTINGS.allow_unsandboxed is False
