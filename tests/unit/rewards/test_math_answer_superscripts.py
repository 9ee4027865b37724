"""Superscripts are exponents, not digits: NFKC alone folds ``2⁵`` into ``25``."""

from __future__ import annotations

import sys
import unicodedata

import pytest

from lambda_rewards.common.text import NOT_EXPONENTS, normalize_unicode
from tests.unit.rewards.conftest import make_sample, scores
from tests.unit.rewards.math_helpers import grade_all


@pytest.mark.parametrize(
    ("text", "normalised"),
    [
        ("2⁵", "2^{5}"),
        ("x⁻¹", "x^{-1}"),
        ("10¹²", "10^{12}"),
        ("a₁₂ + b₃", "a_{12} + b_{3}"),
        ("eⁱᵖ", "e^{ip}"),
        ("5 m²", "5 m^{2}"),
        ("\uff11\uff18", "18"),  # fullwidth digits still fold to ASCII
    ],
)
def test_superscript_and_subscript_runs_become_exponents_and_indices(text, normalised):
    assert normalize_unicode(text) == normalised


def test_every_superscript_or_subscript_character_is_read_as_one():
    """No code point whose compatibility form is <super> or <sub> may fold into a plain digit or
    letter next to a number (a scan of all of Unicode, so a range left out is caught)."""
    missed = []
    for code in range(sys.maxunicode + 1):
        char = chr(code)
        tag = unicodedata.decomposition(char).split(" ", 1)[0]
        if tag not in ("<super>", "<sub>") or char in NOT_EXPONENTS:
            continue
        if not normalize_unicode("7" + char).startswith("7^{" if tag == "<super>" else "7_{"):
            missed.append(f"U+{code:04X}")
    assert missed == []


@pytest.mark.parametrize(
    ("response", "gold", "expected"),
    [
        ("\\boxed{2⁵}", 25, 0.0),  # not twenty-five
        ("The answer is 2⁵.", "25", 0.0),
        ("\\boxed{3²}", 32, 0.0),
        ("\\boxed{x²+1}", "x^{2}+1", 1.0),  # an exponent is still an exponent
        ("\\boxed{2⁵}", "2^{5}", 1.0),
        ("The answer is 5 m².", 5, 1.0),  # a unit's exponent is not the answer's
        ("\\boxed{a₁}", "a_{1}", 1.0),
    ],
)
def test_a_superscript_never_joins_the_digits_before_it(response, gold, expected):
    assert scores(grade_all([make_sample(response, gold)])) == [expected]
