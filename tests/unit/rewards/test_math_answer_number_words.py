"""Words around a number change it: read them right or refuse the answer, never read the bare
number ("negative 5" is not 5)."""

from __future__ import annotations

from fractions import Fraction

import pytest

from lambda_rewards.math_answer.numeric import parse_number
from tests.unit.rewards.conftest import make_sample, scores
from tests.unit.rewards.math_helpers import grade_all


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("negative 5", -5),
        ("minus 5", -5),
        ("The answer is negative 12", -12),
        ("positive 5", 5),
        ("5 thousand", 5000),
        ("2.5 million dollars", 2_500_000),
        ("3 dozen eggs", 36),
        ("5 hundred thousand", 500_000),
        ("5 squared", 25),
        ("2 cubed", 8),
        ("negative 3 squared", 9),  # the sign word belongs to the number, as in (-3)^2
        ("18 dollars", 18),  # a unit changes nothing
        ("5 m^2", 5),
    ],
)
def test_value_words_next_to_the_number_are_read(text, value):
    assert parse_number(text) == Fraction(value)


@pytest.mark.parametrize(
    "text",
    [
        "5 less than x",
        "at least 5",
        "more than 5",
        "half of 10",
        "5 times",
        "twice 5",
        "5 pi",
        "5 e",
        "5 i",
        "5x",
        "5 k",
        "5 thousandths",
        "minus -5",  # two signs
        "5 dollars squared",  # a power word away from the number
        "5 minus",
        "the reciprocal of 5",
    ],
)
def test_value_words_that_are_not_read_refuse_the_number(text):
    assert parse_number(text) is None


@pytest.mark.parametrize(
    ("response", "gold", "expected"),
    [
        ("The temperature is \\boxed{\\text{negative } 5}.", 5, 0.0),
        ("The answer is minus 5.", 5, 0.0),
        ("The answer is minus 5.", -5, 1.0),
        ("The answer is 5 thousand.", 5, 0.0),
        ("The answer is 5 thousand.", 5000, 1.0),
        ("Final answer: 5 squared", 5, 0.0),
        ("Final answer: 5 squared", 25, 1.0),
        ("The answer is 5 less than the total.", 5, 0.0),
        ("#### 5 pi", 5, 0.0),
    ],
)
def test_a_grader_never_pays_the_bare_number_for_a_changed_value(response, gold, expected):
    assert scores(grade_all([make_sample(response, gold)])) == [expected]
