"""code_tests: correct code scores 1, stubs and every known hack score 0, partial credit is the pass
fraction, references and answers are read strictly, and nothing outlives a run."""

from __future__ import annotations

import io
import os
import textwrap
import time
from contextlib import redirect_stdout

import pytest

from lambda_rewards.code_tests import codec, grader, hardening
from lambda_rewards.code_tests.extract import (
    BadReference,
    CasesSpec,
    CheckSpec,
    extract_code,
    normalize_output,
    parse_reference,
)
from lambda_rewards.code_tests.sandbox import Limits, _parse_judge_output, hardening_flags, run_program
from lambda_rewards.common.contract import Budget, Grade, Sample
from tests.unit.rewards.conftest import FakeContext, make_sample, metric_names

# --------------------------------------------------------------------------- fixtures

ADD = {
    "task_id": "fixture/add",
    "prompt": 'def add(a: int, b: int) -> int:\n    """Return the sum of a and b."""\n',
    "entry_point": "add",
    "test": textwrap.dedent(
        """
        METADATA = {}


        def check(candidate):
            assert True, "never counted"
            assert candidate(1, 2) == 3
            assert candidate(-5, 7) == 2
            assert candidate(10**30, 1) == 10**30 + 1
            assert candidate(2, 2) == 4
        """
    ),
}
ADD_BODY = "    return a + b\n"
ADD_FUNCTION = "def add(a, b):\n    return a + b\n"

MIN_MAX = {
    "prompt": (
        "from typing import List, Tuple\n\n\n"
        'def min_max(values: List[int]) -> Tuple[int, int]:\n    """(smallest, largest)."""\n'
    ),
    "entry_point": "min_max",
    "test": textwrap.dedent(
        """
        def check(candidate):
            assert candidate([3, 1, 2]) == (1, 3)
            assert candidate([5]) == (5, 5)
            assert candidate([-1, -7, 4]) == (-7, 4)
        """
    ),
}

# The test uses a helper from the prompt and random inputs (HumanEval/38 and /50 look like this).
SHIFT = {
    "prompt": textwrap.dedent(
        '''
        def encode(s: str) -> str:
            """Shift every letter by 3."""
            return "".join(chr((ord(c) - 97 + 3) % 26 + 97) for c in s)


        def decode(s: str) -> str:
            """Undo encode."""
        '''
    ),
    "entry_point": "decode",
    "test": textwrap.dedent(
        """
        def check(candidate):
            import random
            letters = "abcdefghijklmnopqrstuvwxyz"
            for _ in range(30):
                word = "".join(random.choice(letters) for _ in range(random.randint(1, 12)))
                assert candidate(encode(word)) == word
        """
    ),
}
SHIFT_SOLUTION = 'def decode(s):\n    return "".join(chr((ord(c) - 97 - 3) % 26 + 97) for c in s)\n'

REVERSE = {
    "cases": [
        {"stdin": "abc\n", "stdout": "cba\n"},
        {"stdin": "hello\n", "stdout": "olleh\n"},
        {"stdin": "xy\n", "stdout": "yx"},
    ],
    "time_limit": 1,
}
REVERSE_SOLUTION = "print(input()[::-1])\n"

TWO_LINES = {"cases": [{"stdin": "3\n", "stdout": "3\n6\n"}], "time_limit": 1}

needs_seccomp = pytest.mark.skipif(
    "S" not in hardening_flags(), reason="the seccomp filter cannot be installed here"
)
contained = "S" in hardening_flags() or "U" in hardening_flags() or os.geteuid() != 0  # forks refused


def run(response: str, reference, seconds: float = 6.0) -> Grade:
    sample = Sample(id="s", messages=[], response=response, reference=reference, metadata={})
    return grader.grade(sample, Budget(seconds, time.monotonic() + 60))


def fenced(code: str) -> str:
    return f"Here is my solution.\n\n```python\n{code}```\n"


@pytest.fixture
def own_tmp(tmp_path, monkeypatch):
    """Sandbox directories go under a test-owned directory (hostile code may delete its siblings)."""
    root = tmp_path / "sandbox"
    root.mkdir()
    monkeypatch.setattr("tempfile.tempdir", str(root))
    return root


# --------------------------------------------------------------------------- extraction


# Reasoning with a wrong draft, the solution, then a usage example.
WITH_USAGE = (
    "<think>\n```python\ndef add(a, b):\n    return 0\n```\n</think>\n"
    "```python\ndef add(a, b):\n    return a + b\n```\nUsage:\n```python\nprint(add(1, 2))\n```\n"
)


@pytest.mark.parametrize(
    ("answer", "entry_point", "code"),
    [
        # with an entry point: the last python block that defines it; without: the last block
        (WITH_USAGE, "add", "def add(a, b):\n    return a + b"),
        (WITH_USAGE, None, "print(add(1, 2))"),
        ("```\nx = 1\n```", None, "x = 1"),
        ("```py\nx = 1\n```\n```\ny = 2\n```", None, "x = 1"),
        ("Sure:\n```python\nx = 1\n", None, "x = 1"),  # ran out of tokens inside the block
        ("~~~python\nx = 1\n~~~", None, "x = 1"),
        ("````python\n```\nx = 1\n````", None, "```\nx = 1"),
        ("x = 1\r\ny = 2\r\n", None, "x = 1\ny = 2"),
        ("```cpp\nint main() {}\n```", None, ""),
        ("   \n", None, ""),
        ("", None, ""),
    ],
)
def test_extract_code(answer, entry_point, code):
    assert extract_code(answer, entry_point) == code


def test_normalize_output_drops_trailing_whitespace_only():
    assert normalize_output("a  \r\nb\t\n\n\n") == "a\nb"
    assert normalize_output(" a\n\nb") == " a\n\nb"
    assert normalize_output("a\n") != normalize_output("a\nb\n")


# --------------------------------------------------------------------------- references


def test_humaneval_reference_is_instrumented_per_assert():
    spec = parse_reference(ADD)
    assert isinstance(spec, CheckSpec)
    assert spec.units == 4  # `assert True` is not a unit
    assert spec.prompt_code is None  # the test uses no helper of the prompt
    shift = parse_reference(SHIFT)
    assert shift.prompt_code is not None and shift.seed and shift.units == 1


def test_reference_as_json_string_and_apps_style_lists():
    import json

    assert isinstance(parse_reference(json.dumps(ADD)), CheckSpec)
    spec = parse_reference({"inputs": ["1\n", "2\n"], "outputs": ["1\n", ["2"]]})
    assert isinstance(spec, CasesSpec)
    assert [case.stdout for case in spec.cases] == ["1\n", "2\n"]


@pytest.mark.parametrize(
    "reference",
    [
        "def check(candidate): pass",
        42,
        {"answer": "3"},
        {"test": "def check(candidate):\n    assert candidate() == 1\n"},
        {"test": "def check(candidate):\n    assert candidate() == 1\n", "entry_point": "not a name"},
        {"test": "def check(candidate):\n  assert (\n", "entry_point": "f"},
        {"test": "assert f() == 1\n", "entry_point": "f"},
        {"test": "def check():\n    pass\n", "entry_point": "f"},
        {"test": "", "entry_point": "f"},
        {"cases": []},
        {"cases": [{"stdin": "1"}]},
        {"cases": ["1"]},
        {"cases": [{"stdin": 1, "stdout": "1"}]},
        {"cases": [{"stdin": "", "stdout": ""}], "time_limit": 0},
        {"cases": [{"stdin": "", "stdout": ""}], "time_limit": float("nan")},
        {"inputs": ["1"], "outputs": []},
    ],
)
def test_bad_references_score_zero_with_bad_reference(reference):
    with pytest.raises(BadReference):
        parse_reference(reference)
    grade = run("```python\nx = 1\n```", reference)
    assert (grade.score, grade.error) == (0.0, "bad_reference")


@pytest.mark.parametrize("answer", ["", "   ", "```cpp\nint main() { return 0; }\n```"])
def test_no_code_scores_zero(answer):
    assert run(answer, ADD).error == "no_code"
    assert run(answer, REVERSE).error == "no_code"


def test_oversized_code_is_refused_without_running():
    assert run("x = 1\n" * 40_000, ADD).error == "code_too_large"


# --------------------------------------------------------------------------- value codec


@pytest.mark.parametrize(
    "value",
    [
        None,
        True,
        False,
        0,
        -(2**200),
        pytest.param(10**5000, id="5000-digit-int"),
        1.5,
        -0.0,
        float("inf"),
        1e-310,
        2 + 3j,
        "",
        "héllo \ud800",
        b"\x00\xff",
        [1, [2, [3]]],
        (1, (2,)),
        {1, "a"},
        frozenset({(1, 2)}),
        {"a": [1, 2], 3: None, (1, 2): {"x": 1.0}},
    ],
)
def test_codec_round_trips_plain_data_exactly(value):
    out: list[bytes] = []
    codec.encode_value(value, out)
    decoded = codec.decode_value(b"".join(out))
    assert decoded == value and type(decoded) is type(value)


def test_codec_round_trips_nan():
    out: list[bytes] = []
    codec.encode_value(float("nan"), out)
    assert codec.decode_value(b"".join(out)) != codec.decode_value(b"".join(out))


def test_codec_converts_subclasses_to_builtin_types():
    class Sneaky(str):
        def __eq__(self, other):
            return True

        __hash__ = str.__hash__

    out: list[bytes] = []
    codec.encode_value([Sneaky("x")], out)
    assert type(codec.decode_value(b"".join(out))[0]) is str


@pytest.mark.parametrize("value", [object(), iter([1]), lambda: 1, type])
def test_codec_refuses_objects(value):
    with pytest.raises(TypeError):
        codec.encode_value(value, [])


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"X",
        b"NN",
        b"i0:",
        b"i2:0x",
        b"i3:1 2",
        b"s5:ab",
        b"l99999999:N",
        b"d1:l0:N",  # unhashable key
        b"f3:xyz",
        b"f2:--",
        b"c3:1p0",
        b"s99999999999999999999999:",
        b"l1:" * 200 + b"N",  # too deep
    ],
)
def test_codec_rejects_malformed_data(data):
    with pytest.raises((ValueError, TypeError)):
        codec.decode_value(data)


def test_judge_report_must_carry_the_sentinel_on_every_line():
    from lambda_rewards.code_tests.sandbox import CheckRun

    lines = (b"B UCNDS UCNDS", b"L ok", b"U 0 1", b"E ok")
    good = b"RUCNDS" + b"".join(b"s3cr3t " + line + b"\n" for line in lines)
    result = CheckRun()
    _parse_judge_output(good, "s3cr3t", result)
    assert (result.units, result.end, result.protocol_error) == ({0: True}, "ok", False)
    assert result.sandboxed
    for forged in (
        good + b"s3cr3t U 1 1\n",
        good.replace(b"s3cr3t U", b"guess U"),
        good + b"junk",
        b"Rjunk\n",
        b"R",
    ):
        result = CheckRun()
        _parse_judge_output(forged, "s3cr3t", result)
        assert result.protocol_error


def test_seccomp_program_is_well_formed():
    for machine in ("x86_64", "aarch64"):
        program = hardening.seccomp_program(machine, 1234)
        assert program and len(program) % 8 == 0 and len(program) // 8 < 4096
    assert hardening.seccomp_program("riscv64", 1234) is None


# --------------------------------------------------------------------------- HumanEval-style grading


@pytest.mark.slow
@pytest.mark.parametrize(
    "answer",
    [
        fenced(ADD_FUNCTION),
        ADD_BODY,  # completion style: continues the prompt
        ADD_FUNCTION,  # no fence at all
        f"<think>\nlet me add\n</think>\n{fenced(ADD_FUNCTION)}",
        fenced("def add(a: int, b: int) -> int:\n    return sum((a, b))\n"),
        fenced("    def add(a, b):\n        return a + b\n"),  # indented as a whole
    ],
)
def test_correct_solutions_score_one(answer):
    grade = run(answer, ADD)
    assert grade.score == 1.0 and grade.error is None
    assert grade.metrics["tests"] == 4 and grade.metrics["tests_passed"] == 4


@pytest.mark.slow
def test_returned_tuples_lists_and_prompt_helpers():
    assert run(fenced("def min_max(values):\n    return min(values), max(values)\n"), MIN_MAX).score == 1.0
    # Faithful to ==: a list is not the tuple the tests expect.
    assert run(fenced("def min_max(values):\n    return [min(values), max(values)]\n"), MIN_MAX).score == 0.0
    assert run(fenced(SHIFT_SOLUTION), SHIFT).score == 1.0


@pytest.mark.slow
def test_partial_credit_is_the_fraction_of_asserts_passed_when_the_reference_opts_in():
    grade = run(fenced("def add(a, b):\n    return abs(a) + b\n"), {**ADD, "partial_credit": True})
    assert grade.score == pytest.approx(0.75)
    assert grade.metrics["tests_passed"] == 3
    assert run(fenced("def add(a, b):\n    return abs(a) + b\n"), ADD).score == 0.0


@pytest.mark.slow
@pytest.mark.parametrize(
    "code",
    [
        "def add(a, b):\n    pass\n",
        "def add(a, b):\n    return 0\n",
        "def add(a, b):\n    raise NotImplementedError\n",
        "def add(a, b):\n    return (x for x in [a + b])\n",  # not plain data
        "def sub(a, b):\n    return a - b\n",  # wrong name: the prompt's stub (None) is what runs
        "add = 3\n",
        "def add(a, b)\n    return a + b\n",
    ],
)
def test_stubs_and_broken_code_score_zero(code):
    assert run(fenced(code), ADD).score == 0.0


HACKS = {
    "os._exit at import": "import os\nos._exit(0)\n",
    "os._exit in the call": "def add(a, b):\n    import os\n    os._exit(0)\n",
    "sys.exit at import": "import sys\nsys.exit(0)\n",
    "sys.exit in the call": "def add(a, b):\n    import sys\n    sys.exit(0)\n",
    "SystemExit": "def add(a, b):\n    raise SystemExit(0)\n",
    "KeyboardInterrupt": "def add(a, b):\n    raise KeyboardInterrupt\n",
    "BaseException": "def add(a, b):\n    raise BaseException\n",
    "always-equal object": textwrap.dedent(
        """
        class Yes:
            def __eq__(self, other):
                return True
            def __ne__(self, other):
                return False
            __hash__ = None

        def add(a, b):
            return Yes()
        """
    ),
    "always-equal int subclass": textwrap.dedent(
        """
        class Int(int):
            def __eq__(self, other):
                return True
            __hash__ = int.__hash__

        def add(a, b):
            return Int(-1)
        """
    ),
    "patched builtins and assert": textwrap.dedent(
        """
        import builtins
        class Never(Exception):
            pass
        builtins.AssertionError = Never
        builtins.abs = lambda x: 0
        builtins.__import__ = None
        def add(a, b):
            return None
        """
    ),
    "redefined check": textwrap.dedent(
        """
        import sys
        def check(candidate):
            return None
        for module in list(sys.modules.values()):
            try:
                module.check = check
            except Exception:
                pass
        def add(a, b):
            return None
        """
    ),
    "patched print, json and stdout": textwrap.dedent(
        """
        import builtins, io, json, sys
        builtins.print = lambda *a, **k: None
        json.dumps = lambda *a, **k: '{"passed": true}'
        json.loads = lambda *a, **k: {"passed": True}
        sys.stdout = io.StringIO()
        def add(a, b):
            return None
        """
    ),
    "printed sentinels": textwrap.dedent(
        """
        import os, sys
        for guess in ("R", "0" * 32 + " U 0 1", "0" * 32 + " E ok", "PASSED"):
            print(guess)
            sys.stderr.write(guess + "\\n")
        os.write(1, b"R")
        def add(a, b):
            return None
        """
    ),
    "forged frames on every descriptor": textwrap.dedent(
        """
        import os
        def add(a, b):
            for fd in range(3, 64):
                for frame in (b"\\x00\\x00\\x00\\x01R", b"R" + b"0" * 32 + b" U 0 1\\n", b"N"):
                    try:
                        os.write(fd, frame)
                    except OSError:
                        pass
            return a + b
        """
    ),
    "atexit hook": textwrap.dedent(
        """
        import atexit, os
        atexit.register(lambda: os.write(1, b"R\\n"))
        def add(a, b):
            return None
        """
    ),
    "thread printing later": textwrap.dedent(
        """
        import threading, time
        def late():
            time.sleep(0.2)
            print("0" * 32 + " U 0 1")
        try:
            threading.Thread(target=late, daemon=True).start()
        except RuntimeError:
            pass
        def add(a, b):
            return None
        """
    ),
    "reads the tests it can find": textwrap.dedent(
        """
        import os
        def add(a, b):
            found = []
            for root in (os.getcwd(), os.path.dirname(os.getcwd())):
                for path, _, files in os.walk(root):
                    for name in files:
                        try:
                            with open(os.path.join(path, name)) as handle:
                                if "def check" in handle.read():
                                    found.append(name)
                        except OSError:
                            pass
            return None if not found else found
        """
    ),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", list(HACKS))
def test_hacks_score_zero(name, own_tmp):
    grade = run(fenced(HACKS[name]), ADD)
    assert grade.score == 0.0, grade
    assert grade.metrics.get("tests_passed", 0.0) == 0.0


@pytest.mark.slow
def test_redefining_prompt_helpers_gains_nothing():
    # In-process harnesses run the test in the answer's namespace: identity helpers pass there.
    hack = "def encode(s):\n    return s\n\n\ndef decode(s):\n    return s\n"
    assert run(fenced(hack), SHIFT).score == 0.0


@pytest.mark.slow
def test_the_sandbox_sees_no_credentials_and_no_tests(monkeypatch, own_tmp):
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "do-not-leak")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "do-not-leak")
    marker = "MARKER-7f3a"
    reference = {
        "entry_point": "inspect",
        "test": textwrap.dedent(
            f"""
            def check(candidate):
                seen = candidate("{marker}")
                assert set(seen["env"]) <= {{"PYTHONHASHSEED", "PYTHONUTF8", "LC_CTYPE"}}
                assert seen["cwd"] == []
                assert seen["files_with_marker"] == []
                assert seen["argv_has_marker"] is False
            """
        ),
    }
    probe = textwrap.dedent(
        """
        import os
        def inspect(marker):
            hits = []
            for path, _, files in os.walk(os.path.dirname(os.getcwd())):
                for name in files:
                    try:
                        with open(os.path.join(path, name), errors="replace") as handle:
                            if marker in handle.read():
                                hits.append(name)
                    except OSError:
                        pass
            argv = open("/proc/self/cmdline", "rb").read().decode(errors="replace")
            return {"env": sorted(os.environ), "cwd": os.listdir("."), "files_with_marker": hits,
                    "argv_has_marker": marker in argv}
        """
    )
    grade = run(fenced(probe), reference)
    assert grade.score == 1.0, grade


@pytest.mark.slow
def test_files_written_and_directories_deleted_do_not_outlive_the_run(own_tmp):
    vandal = textwrap.dedent(
        """
        import os, shutil
        open("left-behind.txt", "w").write("x")
        os.makedirs("locked/inner")
        os.chmod("locked", 0)
        for entry in os.listdir(os.path.dirname(os.getcwd())):
            shutil.rmtree(os.path.join(os.path.dirname(os.getcwd()), entry), ignore_errors=True)
        def add(a, b):
            return None
        """
    )
    assert run(fenced(vandal), ADD).score == 0.0
    assert list(own_tmp.iterdir()) == []
    assert run(fenced(ADD_FUNCTION), ADD).score == 1.0


@pytest.mark.slow
@pytest.mark.parametrize("double_fork", [False, True])
def test_forked_processes_do_not_outlive_the_run(tmp_path, double_fork):
    marker = tmp_path / "survivor"
    escape = "os.setsid()\n        if os.fork():\n            os._exit(0)\n        " if double_fork else ""
    code = textwrap.dedent(
        f"""
        import os, time
        try:
            if os.fork() == 0:
                {escape}time.sleep(0.4)
                open({str(marker)!r}, "w").write(str(os.getpid()))
                os._exit(0)
        except OSError:
            pass
        def add(a, b):
            return None
        """
    )
    assert run(fenced(code), ADD).score == 0.0
    if contained:
        time.sleep(0.8)
        assert not marker.exists()


@pytest.fixture
def sandbox_deadlines(monkeypatch) -> list[float]:
    """Seconds from each sandbox run's start to the deadline the grader gave it."""
    given: list[float] = []

    def spy(run):
        def recorded(**kwargs):
            given.append(kwargs["deadline"] - time.monotonic())
            return run(**kwargs)

        return recorded

    monkeypatch.setattr(grader, "run_check", spy(grader.run_check))
    monkeypatch.setattr(grader, "run_program", spy(grader.run_program))
    return given


# The sandbox stops a run at its deadline and says so (``timeouts``: the deadline, not the CPU
# limit or the program, ended it): these tests assert the deadline the grader hands down and that
# it was what stopped the run, not the seconds it all took, which a loaded machine stretches.


@pytest.mark.slow
def test_infinite_loop_times_out_within_the_budget(sandbox_deadlines):
    grade = run(fenced("def add(a, b):\n    while True:\n        pass\n"), ADD, seconds=1.0)
    assert (grade.score, grade.error, grade.metrics["timeouts"]) == (0.0, "timeout", 1.0)
    grade = run(fenced("while True:\n    pass\n"), ADD, seconds=0.6)  # at import
    assert (grade.error, grade.metrics["timeouts"]) == ("timeout", 1.0)
    assert len(sandbox_deadlines) == 2
    assert sandbox_deadlines[0] <= 1.0 and sandbox_deadlines[1] <= 0.6


@pytest.mark.slow
def test_partial_credit_survives_a_later_hang():
    # Hangs on the third assert: the first two count, the third and fourth never finish.
    code = "def add(a, b):\n    while a > 100:\n        pass\n    return a + b\n"
    grade = run(fenced(code), {**ADD, "partial_credit": True}, seconds=1.0)
    assert grade.score == pytest.approx(0.5) and grade.error is None
    assert grade.metrics["timeouts"] == 1


@pytest.mark.slow
def test_memory_and_output_floods_are_contained():
    # Stopped by the address-space limit (MemoryError in every call), not by the deadline.
    for code in (
        "def add(a, b):\n    return len(bytearray(10**10))\n",
        "def add(a, b):\n    x = []\n    while True:\n        x.append(' ' * 10**6)\n",
    ):
        grade = run(fenced(code), ADD, seconds=30.0)
        assert (grade.score, grade.error, grade.metrics["timeouts"]) == (0.0, None, 0.0), grade


@needs_seccomp
@pytest.mark.slow
def test_network_signals_exec_and_file_writes_are_refused():
    reference = {
        "entry_point": "probe",
        "test": "def check(candidate):\n    assert candidate() == [False] * 7 + [True]\n",
    }
    code = textwrap.dedent(
        """
        import os, signal, socket
        def attempt(action):
            try:
                action()
                return True
            except OSError:
                return False
        def probe():
            return [
                attempt(lambda: socket.socket(socket.AF_INET, socket.SOCK_STREAM)),
                attempt(lambda: os.kill(os.getppid(), 0)),
                attempt(lambda: os.execv("/bin/true", ["true"])),
                attempt(lambda: os.setsid()),
                attempt(lambda: open(os.__file__, "a")),  # would trojan every later run
                attempt(lambda: os.rename(os.__file__, os.__file__ + ".bak")),
                attempt(lambda: open("scratch.txt", "w")),
                attempt(lambda: open(os.devnull).read(1)),  # reading is fine
            ]
        """
    )
    assert run(fenced(code), reference).score == 1.0


@pytest.mark.slow
def test_results_are_deterministic():
    # Set order of strings depends on the hash seed: fixed in the sandbox, so a lucky order is
    # lucky every time and an unlucky one never flips.
    reference = {
        "entry_point": "unique",
        "test": "def check(candidate):\n    assert candidate(['b', 'a', 'c', 'b']) == ['a', 'b', 'c']\n",
    }
    code = fenced("def unique(words):\n    return list(set(words))\n")
    assert len({run(code, reference).score for _ in range(3)}) == 1
    assert len({run(fenced(SHIFT_SOLUTION.replace("- 3", "- 2")), SHIFT).score for _ in range(2)}) == 1


@pytest.mark.slow
def test_check_without_top_level_asserts_is_one_unit():
    reference = {
        "entry_point": "double",
        "test": textwrap.dedent(
            """
            def check(candidate):
                def verify(x):
                    assert candidate(x) == 2 * x
                for x in range(5):
                    verify(x)
            """
        ),
    }
    assert run(fenced("def double(x):\n    return 2 * x\n"), reference).score == 1.0
    assert run(fenced("def double(x):\n    return 2 * x if x < 4 else 0\n"), reference).score == 0.0


@pytest.mark.slow
def test_exceptions_cross_as_builtin_types():
    reference = {
        "entry_point": "parse",
        "test": textwrap.dedent(
            """
            def check(candidate):
                try:
                    candidate("x")
                except ValueError:
                    pass
                else:
                    assert False
                assert candidate("7") == 7
            """
        ),
    }
    assert run(fenced("def parse(text):\n    return int(text)\n"), reference).score == 1.0


# --------------------------------------------------------------------------- stdin/stdout programs


@pytest.mark.slow
@pytest.mark.parametrize(
    "answer",
    [
        fenced(REVERSE_SOLUTION),
        fenced("import sys\nfor line in sys.stdin.read().split():\n    print(line[::-1] + '   ')\nexit()\n"),
        fenced("def main():\n    print(input()[::-1])\n\nif __name__ == '__main__':\n    main()\n"),
    ],
)
def test_programs_pass_every_case(answer):
    grade = run(answer, REVERSE)
    assert grade.score == 1.0 and grade.metrics["tests"] == 3


@pytest.mark.slow
def test_programs_get_partial_credit_and_full_comparison():
    grade = run(fenced("s = input()\nprint(s[::-1] if len(s) < 4 else s)\n"), REVERSE)
    assert grade.score == pytest.approx(2 / 3)
    assert run(fenced("print(input())\n"), TWO_LINES).score == 0.0  # truncated: first line only
    assert run(fenced("n = int(input())\nprint(n)\nprint(2 * n)\nprint(0)\n"), TWO_LINES).score == 0.0
    assert run(fenced("n = int(input())\nprint(n)\nprint()\nprint(2 * n)\n"), TWO_LINES).score == 0.0
    assert run(fenced("n = int(input())\nprint(n, ' ')\nprint(2 * n)\n\n\n"), TWO_LINES).score == 1.0


@pytest.mark.slow
@pytest.mark.parametrize(
    "code",
    [
        "import os\nprint(input()[::-1])\nos._exit(0)\n",  # buffered output never flushed
        "print(input()[::-1])\nraise SystemExit(3)\n",  # right output, failed run
        "print(input()[::-1])\nraise ValueError\n",
        "import os\nos.write(1, b'cba\\nolleh\\nyx\\n')\nos._exit(0)\n",  # one answer for all cases
        "print(input()[::-1]\n",
    ],
)
def test_program_hacks_and_failures_score_zero_per_case(code):
    assert run(fenced(code), {"cases": REVERSE["cases"][:2], "time_limit": 1}).score == 0.0


@pytest.mark.slow
def test_program_floods_and_loops_are_stopped_early(sandbox_deadlines):
    grade = run(fenced("while True:\n    print('x' * 10000)\n"), TWO_LINES, seconds=5.0)
    # Stopped by its output cap: no deadline was reached.
    assert (grade.score, grade.metrics["timeouts"]) == (0.0, 0.0)
    del sandbox_deadlines[:]
    grade = run(fenced("while True:\n    pass\n"), {**REVERSE, "time_limit": 0.3}, seconds=3.0)
    assert (grade.score, grade.error) == (0.0, "timeout")
    assert grade.metrics["timeouts"] >= 1
    # Each case runs against its own time limit (2 x 0.3 s + 0.5 s of start-up), not the budget.
    assert sandbox_deadlines and all(seconds <= 2 * 0.3 + 0.5 for seconds in sandbox_deadlines)


@pytest.mark.slow
def test_program_syntax_error_stops_after_one_run():
    grade = run(fenced("print(\n"), REVERSE)
    assert grade.score == 0.0 and grade.metrics["load_error"] == 1.0


@pytest.mark.slow
def test_large_input_reaches_the_program():
    size = 1_000_000
    reference = {"cases": [{"stdin": "7" * size + "\n", "stdout": f"{size}\n"}]}
    assert run(fenced("print(len(input()))\n"), reference).score == 1.0


@pytest.mark.slow
def test_run_program_reports_exit_status_and_overflow():
    def program(code: str):
        deadline = time.monotonic() + 5
        return run_program(code=code, stdin=b"", deadline=deadline, limits=Limits(2, 256), stdout_cap=100)

    result = program("print('hi')")
    assert (result.stdout, result.returncode, result.timed_out, result.overflow) == (b"hi\n", 0, False, False)
    assert program("print('x' * 1000)").overflow
    assert program("import sys; sys.exit(4)").returncode == 4


# --------------------------------------------------------------------------- the Lambda handler


@pytest.mark.slow
def test_handler_answers_a_bedrock_batch_in_order():
    from lambda_rewards.code_tests.handler import handler

    event = {
        "trajectories": [
            make_sample(fenced(ADD_FUNCTION), ADD, sample_id="good"),
            make_sample(fenced("def add(a, b):\n    pass\n"), ADD, sample_id="stub"),
            make_sample(fenced(REVERSE_SOLUTION), REVERSE, sample_id="program", where="top"),
            make_sample("no code here", ADD, sample_id="prose"),
            make_sample(fenced(ADD_FUNCTION), {"text": "not a reference"}, sample_id="bad"),
        ]
    }
    with redirect_stdout(io.StringIO()):
        results = handler(event, FakeContext(30))
    assert [result["id"] for result in results] == ["good", "stub", "program", "prose", "bad"]
    assert [result["aggregate_reward_score"] for result in results] == [1.0, 0.0, 1.0, 0.0, 0.0]
    assert {"tests", "tests_passed", "sandboxed"} <= metric_names(results[0])
    assert "error_bad_reference" in metric_names(results[4])
