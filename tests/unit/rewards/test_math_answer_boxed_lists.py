"""Several boxes joined as a list are one list answer (``\\boxed{3} and \\boxed{-4}``); boxes
separated by prose or "or" stay separate answers, and disagreeing answers are still a hedge."""

from __future__ import annotations

import pytest

from tests.unit.rewards.conftest import make_sample, metric_names, scores
from tests.unit.rewards.math_helpers import grade_all


@pytest.mark.parametrize(
    ("response", "gold"),
    [
        ("So \\[\\boxed{3} \\quad \\text{and} \\quad \\boxed{-4}\\]", "3, -4"),
        ("Roots: $\\boxed{3}$, $\\boxed{-4}$.", "-4, 3"),  # a solution list in any order
        ("\\boxed{(1, 5)} and \\boxed{(5, 1)}", "(5, 1), (1, 5)"),
        (
            "\\boxed{\\sqrt{2}}, \\boxed{\\sqrt{3}}, \\boxed{\\sqrt{5}}, \\boxed{\\sqrt{7}}",
            "\\sqrt{2}, \\sqrt{3}, \\sqrt{5}, \\sqrt{7}",
        ),
        ("\\boxed{3, 4}", "\\boxed{3} apples and \\boxed{4} pears"),  # a reference joins its boxes too
    ],
)
def test_boxes_joined_as_a_list_are_one_list_answer(response, gold):
    assert scores(grade_all([make_sample(response, gold)])) == [1.0]


@pytest.mark.parametrize(
    ("response", "gold"),
    [
        ("\\boxed{3}, \\boxed{-4}", "3"),  # a list offered for one value
        ("\\boxed{3}, \\boxed{-4}", "-4"),
        ("\\boxed{3} or \\boxed{-4}", "3, -4"),  # "or" is not a list
        ("First \\boxed{3}. Checking again, it is \\boxed{-4}.", "3, -4"),  # separate answers
        ("".join(f"\\boxed{{{i}}}" for i in range(60)), "7"),  # a spray of guesses
        ("\\boxed{5}\\boxed{5}\\boxed{5}\\boxed{5}", "5"),
        ("\\boxed{3, 4}", "\\boxed{3} no no no \\boxed{4}"),  # the reference's last box is 4
    ],
)
def test_boxes_that_are_not_one_list_earn_nothing(response, gold):
    result = grade_all([make_sample(response, gold)])[0]
    assert result["aggregate_reward_score"] == 0.0, result["metrics_list"]
    assert metric_names(result) & {"hedged", "unreadable_answer", "correctness"}
