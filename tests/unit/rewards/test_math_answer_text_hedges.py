"""Words inside an answer that math-verify drops must not turn a hedge into an answer:
``\\sqrt2 \\text{ else } \\sqrt3`` is two answers, not ``\\sqrt2``."""

from __future__ import annotations

import pytest

from lambda_rewards.math_answer.forms import join_text_lists
from tests.unit.rewards.conftest import make_sample, metric_names, scores
from tests.unit.rewards.math_helpers import grade_all


@pytest.mark.parametrize(
    "answer",
    [
        "\\sqrt{2} \\text{ else } \\sqrt{3}",
        "\\sqrt{2} \\textnormal{ otherwise } \\sqrt{3}",
        "\\sqrt{2} \\mbox{ but maybe } \\sqrt{3}",
        "\\sqrt{2} \\textbf{ unless } x = 1",
        "\\sqrt{2} \\text{ if } n \\text{ is even}",
        "\\sqrt{2}\\text{, possibly }\\frac{\\sqrt{8}}{2}",
    ],
)
def test_text_between_two_pieces_of_mathematics_is_a_hedge(answer):
    result = grade_all([make_sample(f"\\boxed{{{answer}}}", "\\sqrt{2}")])[0]
    assert result["aggregate_reward_score"] == 0.0
    assert "hedged" in metric_names(result)


@pytest.mark.parametrize(
    ("answer", "gold"),
    [
        ("\\sqrt{2}\\text{ units}", "\\sqrt{2}"),  # a unit after the answer
        ("4\\sqrt{2} \\text{ cm}^2", "4\\sqrt{2}"),
        ("\\text{so } \\sqrt{2}", "\\sqrt{2}"),  # a lead before it
        ("\\sqrt{2} \\text{ and } \\sqrt{3}", "\\sqrt{2}, \\sqrt{3}"),  # a list joined by "and"
        ("\\sqrt{2}, \\sqrt{3}", "\\sqrt{2} \\text{ and } \\sqrt{3}"),
    ],
)
def test_leads_units_and_list_connectors_are_not_hedges(answer, gold):
    assert scores(grade_all([make_sample(f"\\boxed{{{answer}}}", gold)])) == [1.0]


def test_and_joins_a_list_without_doubling_its_commas():
    assert join_text_lists("19, 46, \\text{ and } 82") == ("19, 46,  82", None)
    assert join_text_lists("\\text{so } 5\\text{ miles}") == (" 5", None)
    assert join_text_lists("\\text{odd}") == ("\\text{odd}", None)
    assert join_text_lists("1 \\text{ and } 2") == ("1 , 2", None)
