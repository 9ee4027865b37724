"""code_tests attack: forging the judge's report.

The judge frames every line of its report with a per-run sentinel on a pipe only it holds. A
candidate that can read the judge's memory learns the sentinel; one that can open the judge's fds
through ``/proc/<judge>/fd`` writes a complete forged report ("every unit passed", "end") into the
judge's result pipe, then stalls so the judge never writes its own lines. Where the sandbox holds,
neither step is possible; where it cannot be established, nothing runs at all (fail closed)."""

from __future__ import annotations

import textwrap

import pytest

from lambda_rewards.code_tests import sandbox
from tests.unit.rewards.code_tests_helpers import fenced, grade

FORGE = textwrap.dedent(
    r"""
    import os, re, time

    FRAMED = re.compile(rb"([0-9a-f]{32}) B ")

    def sentinels(pid):
        found = set()
        try:
            with open(f"/proc/{pid}/maps") as handle:
                regions = handle.read().splitlines()
            with open(f"/proc/{pid}/mem", "rb", buffering=0) as memory:
                for region in regions:
                    span, perms = region.split()[:2]
                    start, end = (int(value, 16) for value in span.split("-"))
                    if not perms.startswith("rw") or end - start > 64 << 20:
                        continue
                    try:
                        memory.seek(start)
                        found.update(FRAMED.findall(memory.read(end - start)))
                    except (OSError, OverflowError, ValueError):
                        continue
        except OSError:
            pass
        return found

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

    def parent_of(pid):
        try:
            with open(f"/proc/{pid}/stat") as handle:
                return int(handle.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            return None

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
