"""Solution sets in any order and notation, labelled values in any order, membership and
equations written solved for a variable; a duplicated solution is not an extra candidate, an
extra solution still is."""

from __future__ import annotations

import pytest

from tests.unit.rewards.conftest import make_sample, metric_names, scores
from tests.unit.rewards.math_helpers import grade_all


@pytest.mark.parametrize(
    ("answer", "gold"),
    [
        ("4, 9, 16", "{4,9,16}"),  # a list for a set
        ("16, 4, 9", "\\{4, 9, 16\\}"),
        ("(2, 5), (5, 2), (2, 5)", "(5, 2), (2, 5)"),  # a solution written twice
        ("b = 7, a = 3", "a = 3, b = 7"),  # labelled values in any order
        ("t \\in [-1, 4]", "[-1, 4]"),  # membership states the set
        ("t \\in [-1, 4]", "-1 \\le t \\le 4"),
        ("y = -\\frac{2}{3}x + 2", "2x + 3y - 6 = 0"),  # an equation solved for y
        (
            "\\begin{pmatrix}1 & 1 \\\\ 0 & 2\\end{pmatrix} + \\begin{pmatrix}1 & 0 \\\\ 3 & 1\\end{pmatrix}",
            "\\begin{pmatrix}2 & 1 \\\\ 3 & 3\\end{pmatrix}",
        ),
    ],
)
def test_the_same_solutions_in_another_notation_score_one(answer, gold):
    assert scores(grade_all([make_sample(f"\\boxed{{{answer}}}", gold)])) == [1.0]


@pytest.mark.parametrize(
    ("answer", "gold"),
    [
        ("4, 9, 16, 25", "{4,9,16}"),  # an extra candidate
        ("(2, 5), (5, 2), (3, 3)", "(5, 2), (2, 5)"),
        ("b = 3, a = 7", "a = 3, b = 7"),  # values swapped between labels
        ("c = 7, a = 3", "a = 3, b = 7"),
        ("t \\in (-1, 4]", "[-1, 4]"),
        ("y = -\\frac{3}{2}x + 2", "2x + 3y - 6 = 0"),
        (
            "\\begin{pmatrix}1 & 1 \\\\ 0 & 2\\end{pmatrix} + \\begin{pmatrix}1 & 0 \\\\ 3 & 2\\end{pmatrix}",
            "\\begin{pmatrix}2 & 1 \\\\ 3 & 3\\end{pmatrix}",
        ),
    ],
)
def test_different_solutions_score_zero(answer, gold):
    result = grade_all([make_sample(f"\\boxed{{{answer}}}", gold)])[0]
    assert result["aggregate_reward_score"] == 0.0, metric_names(result)


@pytest.mark.parametrize(
    ("answer", "gold", "expected"),
    [
        ("(0, 1)", "0 < g(t) < 1", 1.0),  # the values of the middle of a chain
        ("[0, 1)", "0 < g(t) < 1", 0.0),
        ("w \\in [-3, -2] \\cup [2, 3]", "2 \\le |w| \\le 3", 1.0),  # the solutions of |w|
        ("w \\in [-3, -2] \\cup [2, 4]", "2 \\le |w| \\le 3", 0.0),
        ("-1 \\le t \\le 4", "t \\in [-1, 4]", 0.0),  # a condition does not answer a set
    ],
)
def test_a_condition_is_answered_by_its_solution_set(answer, gold, expected):
    assert scores(grade_all([make_sample(f"\\boxed{{{answer}}}", gold)])) == [expected]


def test_labelled_boxes_joined_by_and_are_one_list():
    response = "\\( p_1 = \\boxed{(x-1)^2 + 2} \\) and \\( p_2 = \\boxed{2(x+3)^2 - 1} \\)"
    gold = "p_{1} = x^{2} - 2x + 3, p_{2} = 2x^{2} + 12x + 17"
    assert scores(grade_all([make_sample(response, gold)])) == [1.0]
    swapped = "\\( p_1 = \\boxed{2(x+3)^2 - 1} \\) and \\( p_2 = \\boxed{(x-1)^2 + 2} \\)"
    assert scores(grade_all([make_sample(swapped, gold)])) == [0.0]
