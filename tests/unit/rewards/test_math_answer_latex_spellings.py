"""One value, many LaTeX spellings: each spelling of the gold answer scores 1, and the same
spellings of a different value score 0."""

from __future__ import annotations

import pytest

from tests.unit.rewards.conftest import make_sample, scores
from tests.unit.rewards.math_helpers import grade_all


@pytest.mark.parametrize(
    ("answer", "gold"),
    [
        ("\\frac5{4}", "5/4"),  # brace-less fractions
        ("\\frac{5}4", "\\frac{5}{4}"),
        ("\\frac54", "1.25"),
        ("\\cfrac{5}{4}", "\\frac{5}{4}"),  # fraction variants
        ("\\tfrac{5}{4}", "5/4"),
        ("\\left( \\frac{5}{4} \\right)", "\\frac{5}{4}"),  # parentheses around a whole scalar
        ("\\bigl( 7 \\bigr)", "7"),
        ("22,\\! 333,\\! 444", "22333444"),  # thin-space thousands
        ("7{,}250", "7250"),
        ("42\\textnormal{ km}", "42"),  # a unit inside the box
        ("42 \\mbox{ km}", "42 km"),
        ("\\textrm{prime}", "\\text{prime}"),  # words as the answer
        ("composite", "\\text{composite}"),
        ("y \\geqslant 4", "y >= 4"),  # relations, any spelling
        ("y \\gt 4", "y > 4"),
        ("4 \\ge y", "y \\leq 4"),
        ("y \\ne 4", "y != 4"),
    ],
)
def test_every_spelling_of_the_gold_value_scores_one(answer, gold):
    assert scores(grade_all([make_sample(f"\\boxed{{{answer}}}", gold)])) == [1.0]


@pytest.mark.parametrize(
    ("answer", "gold"),
    [
        ("\\frac5{3}", "5/4"),
        ("\\cfrac{4}{5}", "\\frac{5}{4}"),
        ("\\left( \\frac{5}{4}, 1 \\right)", "\\frac{5}{4}"),  # a pair is not a scalar
        ("22,\\! 333,\\! 445", "22333444"),
        ("\\textrm{composite}", "\\text{prime}"),
        ("y \\geqslant 5", "y >= 4"),
        ("y \\gt 4", "y \\ge 4"),  # strict is not loose
        ("4 \\le y", "y \\leq 4"),  # the direction matters
    ],
)
def test_the_same_spellings_of_another_value_score_zero(answer, gold):
    assert scores(grade_all([make_sample(f"\\boxed{{{answer}}}", gold)])) == [0.0]
