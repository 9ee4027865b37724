"""With a <think> block the answer is what follows </think>: a box only inside the reasoning,
with "not sure" after it, earns nothing."""

from __future__ import annotations

import pytest

from tests.unit.rewards.conftest import make_sample, metric_names, scores
from tests.unit.rewards.math_helpers import grade_all


@pytest.mark.parametrize(
    "response",
    [
        "<think>It is \\boxed{18}.</think>\nI am not sure.",
        "<think>It is \\boxed{18}.</think>",
        "<think>The answer is 18.</think> Not sure, sorry.",
        "<think>#### 18</think>\nno idea",
        "<THINK>\\boxed{18}</ think > maybe",
        "<think>\\boxed{18}",  # cut off while reasoning
        "<think>a</think>\\boxed{18}<think>on second thoughts",  # reopened: no answer
    ],
)
def test_an_answer_only_inside_the_reasoning_earns_nothing(response):
    result = grade_all([make_sample(response, 18)])[0]
    assert result["aggregate_reward_score"] == 0.0
    assert "error_no_answer" in metric_names(result) or "unreadable_answer" in metric_names(result)


@pytest.mark.parametrize(
    ("response", "gold"),
    [
        ("<think>maybe \\boxed{17}</think>\nThe answer is \\boxed{18}.", 18),  # not a hedge
        ("<think>\\boxed{\\sqrt{3}}?</think> \\boxed{\\sqrt{2}}", "\\sqrt{2}"),
        ("reasoning without an opening tag </think> #### 18", 18),  # template opened it
    ],
)
def test_the_answer_after_the_reasoning_is_graded_alone(response, gold):
    assert scores(grade_all([make_sample(response, gold)])) == [1.0]
