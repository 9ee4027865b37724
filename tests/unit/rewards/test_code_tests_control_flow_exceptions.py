"""code_tests attack: an exception the candidate raises must cross as a failure of the candidate,
never as control flow inside the judge (a StopIteration ending a ``for`` over ``map(candidate, ..)``
silently, a GeneratorExit or KeyboardInterrupt escaping the unit's ``except Exception``)."""

from __future__ import annotations

import textwrap

import pytest

from tests.unit.rewards.code_tests_helpers import fenced, grade

# The loop shape that a StopIteration ends early: ``zip`` stops at the first exhausted iterator.
ZIP_MAP = {
    "entry_point": "square",
    "test": textwrap.dedent(
        """
        def check(candidate):
            xs, ys = [1, 2, 3], [1, 4, 9]
            for got, want in zip(map(candidate, xs), ys):
                assert got == want
        """
    ),
}
NEXT_DEFAULT = {
    "entry_point": "square",
    "test": textwrap.dedent(
        """
        def check(candidate):
            values = iter([candidate(2)])
            assert next(values, None) == 4
        """
    ),
}


@pytest.mark.slow
@pytest.mark.parametrize(
    "exception", ["StopIteration", "StopAsyncIteration", "GeneratorExit", "KeyboardInterrupt", "SystemExit"]
)
def test_control_flow_exceptions_fail_the_unit(exception):
    answer = fenced(f"def square(x):\n    raise {exception}\n")
    result = grade(answer, ZIP_MAP)
    assert result.score == 0.0, result
    assert result.metrics["tests_passed"] == 0.0


@pytest.mark.slow
def test_a_stop_iteration_subclass_is_not_control_flow_either():
    code = "class Done(StopIteration):\n    pass\n\ndef square(x):\n    raise Done\n"
    assert grade(fenced(code), ZIP_MAP).score == 0.0


@pytest.mark.slow
def test_ordinary_exceptions_still_cross_by_type_and_correct_code_passes():
    assert grade(fenced("def square(x):\n    return x * x\n"), ZIP_MAP).score == 1.0
    assert grade(fenced("def square(x):\n    return x * x\n"), NEXT_DEFAULT).score == 1.0
    reference = {
        "entry_point": "parse",
        "test": "def check(candidate):\n    try:\n        candidate('x')\n    except ValueError:\n"
        "        pass\n    else:\n        assert False\n",
    }
    assert grade(fenced("def parse(text):\n    return int(text)\n"), reference).score == 1.0
