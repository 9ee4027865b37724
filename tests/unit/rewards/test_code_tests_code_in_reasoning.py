"""code_tests attack: code that appears only inside the reasoning.

The answer is what follows the last ``</think>`` (the one rule of ``common/answer.py``): a solution
written inside the reasoning, followed by a hedge or by nothing, earns nothing; a response cut off
inside its reasoning has no answer at all (``error_no_answer``); spelling the tag differently does
not turn the reasoning into the answer."""

from __future__ import annotations

import pytest

from tests.unit.rewards.code_tests_helpers import fenced, grade

ADD = {
    "entry_point": "add",
    "test": "def check(candidate):\n    assert candidate(1, 2) == 3\n    assert candidate(2, 2) == 4\n",
}
SOLUTION = fenced("def add(a, b):\n    return a + b\n")


@pytest.mark.slow
@pytest.mark.parametrize(
    "response",
    [
        f"<think>\n{SOLUTION}\n</think>\nI am not sure this works.",
        f"<THINK>\n{SOLUTION}\n</ think >\nNo idea.",
        f"<thinking>{SOLUTION}</thinking>\n",
    ],
)
def test_code_only_inside_the_reasoning_earns_nothing(response):
    result = grade(response, ADD)
    assert result.score == 0.0, result


@pytest.mark.slow
def test_a_response_cut_off_inside_its_reasoning_has_no_answer():
    result = grade(f"<think>\nfirst try:\n{SOLUTION}", ADD)
    assert (result.score, result.error) == (0.0, "no_answer")


@pytest.mark.slow
def test_the_answer_after_the_reasoning_counts():
    assert grade(f"<think>\nplan\n</think>\n{SOLUTION}", ADD).score == 1.0
    assert grade(f"prompt-side template\n</think>\n{SOLUTION}", ADD).score == 1.0
