"""code_tests attack: scoring must not pay for doing nothing.

A ``pass`` stub returns None, and tests such as ``assert not candidate(x)`` or
``assert candidate([]) == None`` pass by doing nothing: under pass-fraction scoring a stub earns
part of the reward. ``check(candidate)`` is all-or-nothing unless the reference opts in with
``"partial_credit": true``; stdin/stdout ``cases`` keep the fraction. A reference without a
``prompt`` takes the helpers its test uses from the sample's prompt (the last user message, trusted
data), never from the answer."""

from __future__ import annotations

import textwrap

import pytest

from lambda_rewards.code_tests.extract import BadReference, parse_reference, prompt_from_messages
from tests.unit.rewards.code_tests_helpers import fenced, grade

# Three of four asserts pass for a stub that returns None (HumanEval has tests shaped like these).
IS_EMPTY = {
    "entry_point": "has_duplicates",
    "prompt": 'def has_duplicates(values: list) -> bool:\n    """True when a value repeats."""\n',
    "test": textwrap.dedent(
        """
        def check(candidate):
            assert not candidate([1, 2, 3])
            assert not candidate([])
            assert candidate([1, 1]) is True
            assert not candidate(["a"])
        """
    ),
}
STUB = "def has_duplicates(values):\n    pass\n"
SOLUTION = "def has_duplicates(values):\n    return len(set(values)) != len(values)\n"


@pytest.mark.slow
def test_a_stub_that_passes_most_asserts_scores_zero():
    result = grade(fenced(STUB), IS_EMPTY)
    assert result.score == 0.0, result
    assert result.metrics["tests_passed"] == 3.0  # still reported, just not paid
    assert grade(fenced(SOLUTION), IS_EMPTY).score == 1.0


@pytest.mark.slow
def test_partial_credit_is_opt_in():
    opted = {**IS_EMPTY, "partial_credit": True}
    assert grade(fenced(STUB), opted).score == pytest.approx(0.75)
    assert grade(fenced(SOLUTION), opted).score == 1.0


@pytest.mark.parametrize("value", ["yes", 1, None, [True]])
def test_partial_credit_must_be_a_boolean(value):
    with pytest.raises(BadReference, match="partial_credit"):
        parse_reference({**IS_EMPTY, "partial_credit": value})


@pytest.mark.slow
def test_cases_keep_the_fraction():
    reference = {"cases": [{"stdin": "1\n", "stdout": "1\n"}, {"stdin": "2\n", "stdout": "4\n"}]}
    assert grade(fenced("print(input())\n"), reference).score == pytest.approx(0.5)


# HumanEval/32 shape: the test calls `poly`, a helper that only the prompt defines.
POLY_PROMPT = textwrap.dedent(
    '''
    import math


    def poly(xs: list, x: float):
        """Evaluates the polynomial with coefficients xs at x."""
        return sum(coeff * math.pow(x, i) for i, coeff in enumerate(xs))


    def find_zero(xs: list):
        """A zero of the polynomial xs (odd length, largest coefficient non-zero)."""
    '''
).lstrip("\n")
POLY_TEST = textwrap.dedent(
    """
    def check(candidate):
        for xs in ([1, 2], [-6, 11, -6, 1], [2, -3, 0, 1]):
            assert abs(poly(xs, candidate(xs))) < 1e-4
    """
)
POLY_BODY = textwrap.indent(
    textwrap.dedent(
        """\
        begin, end = -1.0, 1.0
        while poly(xs, begin) * poly(xs, end) > 0:
            begin *= 2.0
            end *= 2.0
        while end - begin > 1e-10:
            center = (begin + end) / 2.0
            if poly(xs, center) * poly(xs, begin) > 0:
                begin = center
            else:
                end = center
        return begin
        """
    ),
    "    ",
)
SHORT_REFERENCE = {"test": POLY_TEST, "entry_point": "find_zero"}
USER_MESSAGE = f"Complete this function:\n{POLY_PROMPT}\nAnswer with the whole function."


def test_the_prompt_comes_from_the_last_user_message():
    messages = [
        {"role": "system", "content": "def poly(xs, x):\n    return 0\n"},  # not the prompt
        {"role": "user", "content": "Earlier turn:\n```python\ndef poly(xs, x):\n    return 0\n```"},
        {"role": "assistant", "content": "ok"},
        {"role": "user", "content": USER_MESSAGE},
        {"role": "assistant", "content": "def poly(xs, x):\n    return 0\n"},  # the answer: untrusted
    ]
    prompt = prompt_from_messages(messages)
    assert prompt is not None and "math.pow" in prompt and "Complete" not in prompt and "Answer" not in prompt
    fenced_message = [{"role": "user", "content": f"Solve:\n```python\n{POLY_PROMPT}```\nThanks."}]
    assert prompt_from_messages(fenced_message) == POLY_PROMPT
    assert prompt_from_messages([{"role": "user", "content": "no code at all"}]) is None
    assert prompt_from_messages([]) is None


@pytest.mark.slow
@pytest.mark.parametrize(
    "answer",
    [
        fenced(POLY_PROMPT + POLY_BODY),  # the whole function, helpers included
        fenced("def find_zero(xs):\n" + POLY_BODY),  # only the function: poly comes from the prompt
        POLY_BODY,  # completion style: continues the prompt
    ],
)
def test_helpers_come_from_the_prompt_when_the_reference_has_none(answer):
    result = grade(answer, SHORT_REFERENCE, prompt=USER_MESSAGE)
    assert (result.score, result.error) == (1.0, None), result
    assert grade(answer, {**SHORT_REFERENCE, "prompt": POLY_PROMPT}, prompt="anything").score == 1.0


@pytest.mark.slow
def test_helpers_redefined_by_the_answer_gain_nothing_without_a_reference_prompt():
    cheat = "def poly(xs, x):\n    return 0.0\n\n\ndef find_zero(xs):\n    return 0.0\n"
    assert grade(fenced(cheat), SHORT_REFERENCE, prompt=USER_MESSAGE).score == 0.0
    stub = fenced("def find_zero(xs):\n    pass\n")
    assert grade(stub, SHORT_REFERENCE, prompt=USER_MESSAGE).score == 0.0
