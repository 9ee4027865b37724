"""Approximations must not match exact answers inside structures: math-verify rounds every element
of a tuple, interval, set or matrix to 6 decimals, so ``(1.414214, 2)`` equals ``(\\sqrt2, 2)`` for
it. Each element is confirmed at full precision, and the ends of an interval keep their kind."""

from __future__ import annotations

import pytest

from lambda_rewards.math_answer.latex import compare
from tests.unit.rewards.conftest import make_sample, scores
from tests.unit.rewards.math_helpers import grade_all

SQRT2 = "1.414214"
PI = "3.141593"
SQRT2_MATRIX = "\\begin{pmatrix}\\sqrt{2} & 1 \\\\ 0 & 3\\end{pmatrix}"


@pytest.mark.parametrize(
    ("gold", "approximation"),
    [
        ("(\\sqrt{2}, 2)", f"({SQRT2}, 2)"),  # an open interval or a pair
        ("(2, \\sqrt{2}, 5)", f"(2, {SQRT2}, 5)"),  # a triple
        ("[0, \\pi]", f"[0, {PI}]"),
        ("(-\\pi, \\pi)", f"(-{PI}, {PI})"),
        ("(0, 1) \\cup (2, \\pi)", f"(0, 1) \\cup (2, {PI})"),
        ("\\{\\sqrt{2}, 3\\}", f"\\{{3, {SQRT2}\\}}"),
        (SQRT2_MATRIX, SQRT2_MATRIX.replace("\\sqrt{2}", SQRT2)),
        (
            "\\begin{bmatrix}\\frac{1}{3} \\\\ \\frac{1}{5}\\end{bmatrix}",
            "\\begin{bmatrix}0.333333 \\\\ 0.2\\end{bmatrix}",
        ),
        ("(\\frac{3}{5}, \\frac{8}{3}]", "(0.6, 2.666667]"),
        ("\\frac{1}{12}", "0.0833333333333333"),  # the scalar rule, for comparison
    ],
)
def test_an_approximated_element_never_matches(gold, approximation):
    assert compare({"gold": gold, "pred": approximation})["equal"] is False
    assert scores(grade_all([make_sample(f"\\boxed{{{approximation}}}", gold)])) == [0.0]


@pytest.mark.parametrize(
    ("gold", "answer", "equal"),
    [
        ("[0, \\pi]", "(0, \\pi]", False),  # an open end is another interval
        ("[0, \\pi]", "[0, \\pi)", False),
        ("(1, 2]", "[1, 2]", False),
        ("[0, \\pi]", "\\left[0, \\pi\\right]", True),
        ("(0, 1) \\cup (2, \\pi)", "(2, \\pi) \\cup (0, 1)", True),  # a union in any order
        ("\\{\\sqrt{2}, 3\\}", "\\{3, \\sqrt{2}\\}", True),
        ("(\\sqrt{2}, 2)", "(\\frac{2}{\\sqrt{2}}, 2)", True),  # exact and equal
        ("(\\sqrt{2}, 2)", "(2, \\sqrt{2})", False),  # a tuple keeps its order
        (SQRT2_MATRIX, SQRT2_MATRIX.replace("pmatrix", "bmatrix"), True),
        (SQRT2_MATRIX, "\\begin{pmatrix}\\sqrt{2} & 1 & 0 \\\\ 0 & 3 & 0\\end{pmatrix}", False),
        ("\\frac{1}{2004!}", "\\frac{1}{2006!}", False),  # tiny values are not zero
    ],
)
def test_structures_are_compared_element_by_element(gold, answer, equal):
    assert compare({"gold": gold, "pred": answer})["equal"] is equal
