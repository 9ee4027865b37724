"""code_tests attack: forging the judge's report.

The judge frames every line of its report with a per-run sentinel on a pipe only it holds. A
candidate that can read the judge's memory learns the sentinel; one that can open the judge's fds
through ``/proc/<judge>/fd`` writes a complete forged report ("every unit passed", "end") into the
judge's result pipe, then stalls so the judge never writes its own lines. Where the sandbox holds,
neither step is possible; where it cannot be established, nothing runs at all (fail closed)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from lambda_rewards.code_tests import sandbox
from tests.unit.rewards.code_tests_helpers import PROC_READERS, fenced, grade

FORGE = PROC_READERS + textwrap.dedent(
    r"""
    import os, re, time

    FRAMED = re.compile(rb"([0-9a-f]{32}) B ")

    def sentinels(pid):
        return {found for chunk in memory_chunks(pid, "rw") for found in FRAMED.findall(chunk)}

    def links(pid):
        found = {}
        try:
            for name in os.listdir(f"/proc/{pid}/fd"):
                found[name] = os.readlink(f"/proc/{pid}/fd/{name}")
        except OSError:
            pass
        return found

    def forge(pid, sentinel):
        # The result pipe: a pipe the judge writes to and that this process does not share.
        report = b"".join(sentinel + b" U %d 1\n" % unit for unit in range(4)) + sentinel + b" E ok\n"
        own = set(links(os.getpid()).values())
        for name, target in links(pid).items():
            try:
                with open(f"/proc/{pid}/fdinfo/{name}") as handle:
                    writes = int(handle.read().split("flags:")[1].split()[0], 8) & 3 == 1
            except (OSError, IndexError, ValueError):
                continue
            if not target.startswith("pipe:") or target in own or not writes:
                continue
            try:
                fd = os.open(f"/proc/{pid}/fd/{name}", os.O_WRONLY | os.O_NONBLOCK)
            except OSError:
                continue
            try:
                os.write(fd, report)
            except OSError:
                pass
            os.close(fd)

    # At import, before this process tells the judge it has loaded: the judge waits for that.
    # The judge is a sibling: a child of this process's parent.
    for name in os.listdir("/proc"):
        if name.isdigit() and int(name) != os.getpid() and parent_of(int(name)) == os.getppid():
            for sentinel in sentinels(int(name)):
                forge(int(name), sentinel)
    time.sleep(60)

    def add(a, b):
        return None
    """
)
ADD = {
    "entry_point": "add",
    "test": textwrap.dedent(
        """
        def check(candidate):
            assert candidate(1, 2) == 3
            assert candidate(-5, 7) == 2
            assert candidate(10**30, 1) == 10**30 + 1
            assert candidate(2, 2) == 4
        """
    ),
}


@pytest.mark.slow
def test_a_forged_report_earns_nothing_where_the_sandbox_holds():
    result = grade(fenced(FORGE), ADD, seconds=4.0)
    assert result.score == 0.0, result
    assert result.metrics.get("tests_passed", 0.0) == 0.0


@pytest.mark.slow
def test_without_the_sandbox_nothing_runs(monkeypatch):
    # As where prctl is forbidden (AWS Lambda): the children cannot harden.
    monkeypatch.setattr(sandbox, "hardening_flags", lambda: "00")
    result = grade(fenced(FORGE), ADD, seconds=4.0)
    assert (result.score, result.error) == (0.0, "sandbox_unavailable"), result


@pytest.mark.slow
def test_only_the_unsafe_setting_grades_without_the_sandbox(monkeypatch):
    import dataclasses

    from lambda_rewards.code_tests import grader

    monkeypatch.setattr(sandbox, "hardening_flags", lambda: "00")
    solution = fenced("def add(a, b):\n    return a + b\n")
    assert grade(solution, ADD).error == "sandbox_unavailable"
    monkeypatch.setattr(grader, "SETTINGS", dataclasses.replace(grader.SETTINGS, allow_unsandboxed=True))
    assert grade(solution, ADD).score == 1.0


def test_the_unsafe_setting_is_read_strictly():
    from lambda_rewards.code_tests.grader import load_code_settings
    from lambda_rewards.common.settings import ConfigError

    assert load_code_settings({}).allow_unsandboxed is False
    assert load_code_settings({"CODE_TESTS_ALLOW_UNSANDBOXED": "1"}).allow_unsandboxed is True
    with pytest.raises(ConfigError, match="CODE_TESTS_ALLOW_UNSANDBOXED"):
        load_code_settings({"CODE_TESTS_ALLOW_UNSANDBOXED": "maybe"})


# A platform like AWS Lambda: its own seccomp filter refuses prctl with EPERM (x86_64, arm64 numbers
# of seccomp and prctl). The grader runs in a subprocess under that filter.
PLATFORM = textwrap.dedent(
    """
    import contextlib, ctypes, io, json, os, struct, sys
    SECCOMP, PRCTL = {"x86_64": (317, 157), "aarch64": (277, 167)}[os.uname().machine]
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(38, 1, 0, 0, 0)
    program = [(0x20, 0, 0, 0), (0x15, 0, 1, PRCTL), (0x06, 0, 0, 0x00050001), (0x06, 0, 0, 0x7FFF0000)]
    code = b"".join(struct.pack("<HBBI", *op) for op in program)
    buffer = ctypes.create_string_buffer(code, len(code))
    class Fprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]
    assert libc.syscall(SECCOMP, 1, 0, ctypes.byref(Fprog(len(program), ctypes.addressof(buffer)))) == 0
    assert libc.prctl(4, 0, 0, 0, 0) == -1
    from lambda_rewards.code_tests import handler
    from lambda_rewards.code_tests.sandbox import hardening_flags
    with contextlib.redirect_stdout(io.StringIO()):
        results = handler.handler(json.loads(sys.stdin.read()), None)
    print(json.dumps({"results": results, "flags": hardening_flags()}))
    """
)


@pytest.mark.slow
@pytest.mark.skipif(os.uname().machine not in ("x86_64", "aarch64"), reason="syscall numbers")
@pytest.mark.parametrize("unsafe", [False, True])
def test_where_prctl_is_forbidden_nothing_runs_unless_the_unsafe_setting_says_so(unsafe):
    event = [
        {
            "id": "a",
            "messages": [{"role": "assistant", "content": fenced("def add(a, b):\n    return a + b\n")}],
            "reference_answer": ADD,
        }
    ]
    env = {**os.environ, "CODE_TESTS_ALLOW_UNSANDBOXED": "true" if unsafe else "false"}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[3])
    done = subprocess.run(
        [sys.executable, "-c", PLATFORM], input=json.dumps(event), capture_output=True, text=True, env=env
    )
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout)
    # The platform's own filter shows as "Seccomp: 2" too: only a filter of ours counts.
    assert report["flags"] == "UCN--"  # no_new_privs was set before the platform filter
    (result,) = report["results"]
    metrics = {metric["name"]: metric["value"] for metric in result["metrics_list"]}
    if unsafe:
        assert result["aggregate_reward_score"] == 1.0 and metrics["sandboxed"] == 0.0
    else:
        assert result["aggregate_reward_score"] == 0.0 and metrics["error_sandbox_unavailable"] == 1.0
