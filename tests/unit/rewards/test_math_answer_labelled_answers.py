"""Labelled answers: a label on the gold answer (``(a,b)=(4,1)``, ``PQ=3,RS=8``, ``U_1:U_2=5:9``)
may be left out of the answer, a label in both must be the same, and solution sets may be
written as labelled groups, semicolon lists or sets in any order."""

from __future__ import annotations

import pytest

from lambda_rewards.math_answer.forms import unlabel
from tests.unit.rewards.conftest import make_sample, metric_names, scores
from tests.unit.rewards.math_helpers import grade_all


@pytest.mark.parametrize(
    ("answer", "gold"),
    [
        ("(4, 1)", "(a,b)=(4,1)"),
        ("(a, b) = (4, 1)", "(a,b)=(4,1)"),
        ("3, 8", "PQ=3,RS=8"),
        ("5:9", "U_{1}:U_{2}=5:9"),
        ("\\frac{2}{\\sqrt{5}}", "\\frac{XY}{YZ}=\\frac{2}{\\sqrt{5}}"),
        ("(4, 3), (6, 3)", "a=4,b=3;a=6,b=3"),  # labelled groups
        ("\\{-7, -3, 2\\}", "-7;-3;2"),  # a semicolon list is a set
        ("-3, 2, -7", "-7;-3;2"),
        ("-1, \\frac{9}{4}", "t = -1,\\ s = \\frac{9}{4}"),
        ("(2,9), (9,2)", "(9,2) or (2,9)"),  # a reference's "or" joins its solutions
    ],
)
def test_a_gold_label_may_be_left_out(answer, gold):
    assert scores(grade_all([make_sample(f"\\boxed{{{answer}}}", gold)])) == [1.0]


@pytest.mark.parametrize(
    ("answer", "gold"),
    [
        ("(1, 4)", "(a,b)=(4,1)"),  # a tuple keeps its order
        ("(b, a) = (4, 1)", "(a,b)=(4,1)"),  # another label
        ("y = 5", "x = 5"),
        ("8, 3, 1", "PQ=3,RS=8"),  # more values than the gold has
        ("(4, 3)", "a=4,b=3;a=6,b=3"),  # one solution of two
        ("2a + b = 9", "(a,b)=(4,1)"),  # a restated equation
        ("(9,2) or (2,9)", "(2,9), (9,2)"),  # "or" in an answer is a hedge
        ("PQ=3, RS=8", "8"),  # a labelled list is not its last number
        ("PQ=3, RS=8", 8),
    ],
)
def test_labels_do_not_excuse_a_different_answer(answer, gold):
    result = grade_all([make_sample(f"\\boxed{{{answer}}}", gold)])[0]
    assert result["aggregate_reward_score"] == 0.0, metric_names(result)


def test_unlabel_reads_labels_groups_and_one_label_over_a_list():
    assert unlabel("(p, q) = (3, 2)") == (["(p, q)"], "(3, 2)")
    assert unlabel("p=5,q=2;p=7,q=2") == (["p", "q", "p", "q"], "(5, 2), (7, 2)")
    assert unlabel("n = 1, 2, 3") == (["n"], "1, 2, 3")
    assert unlabel("2x + 1 = 7") == (None, "2x + 1 = 7")
    assert unlabel("x = 1, y + 1 = 2")[0] is None  # labels on some values only


@pytest.mark.parametrize(
    ("answer", "gold", "expected"),
    [
        ("3, 8", "PQ=3,RS=8", 1.0),
        ("8, 3", "PQ=3,RS=8", 0.0),  # distinct labels name values in order
        ("RS=8, PQ=3", "PQ=3,RS=8", 1.0),  # unless the answer labels them
        ("RS=3, PQ=8", "PQ=3,RS=8", 0.0),
    ],
)
def test_distinct_labels_make_an_ordered_tuple(answer, gold, expected):
    assert scores(grade_all([make_sample(f"\\boxed{{{answer}}}", gold)])) == [expected]
