"""A final answer without a box: display math (``\\[ 9 \\]``, ``$$ 9 $$``), the last piece of
mathematics followed only by words, or the value the last sentence states. Alternatives offered
there are still a hedge, and a chat turn leaked after the answer is not part of it."""

from __future__ import annotations

import pytest

from lambda_rewards.math_answer.extract import extract_answer
from tests.unit.rewards.conftest import make_sample, metric_names, scores
from tests.unit.rewards.math_helpers import grade_all


@pytest.mark.parametrize(
    ("response", "gold"),
    [
        ("The result:\n\\[\n 14 \n\\]", "14"),
        ("So we get $$\n\\frac{3}{7}\n$$", "\\frac{3}{7}"),
        ("Hence $y \\leq -2$ is the solution set.", "y \\le -2"),
        (
            "The inverse is $\\begin{pmatrix} 2 & 0 \\\\ 0 & 3 \\end{pmatrix}$.",
            "\\begin{pmatrix} 2 & 0 \\\\ 0 & 3 \\end{pmatrix}",
        ),
        ("The pair $(a, b)$ that works is $(4, 9)$.", "(4, 9)"),
        ("Thus the chance that $B$ wins is 3/8.", "3/8"),
        ("So there are 14 ways to seat them. I hope it is correct.", 14),
        ("So the probability is 5/6. <|im_start|>user\nNow solve 2+2 = 4", "5/6"),
        ("\\frac{7}{4}", "7/4"),  # the whole response is one value
        ("6 000", 6000),  # spaced thousands
        (".25", "1/4"),
    ],
)
def test_an_unmarked_final_answer_is_read(response, gold):
    assert scores(grade_all([make_sample(response, gold)])) == [1.0]


@pytest.mark.parametrize(
    ("response", "gold"),
    [
        ("It is $5$ or $6$.", "6"),  # alternatives
        ("Either $x = 5$ or perhaps $x = 6$.", "x = 6"),
        ("It might be 5 or 6.", 6),
        ("So the answer is $5$. Then again $6$ also fits.", "6"),  # not followed by words only
        ("The probability is 5/6. <|im_start|>user\nThe probability is 1/2.", "1/2"),  # a new turn
        ("Code AZYUK2A", 2),  # a digit glued inside a word is no number
    ],
)
def test_alternatives_and_leaked_turns_earn_nothing(response, gold):
    result = grade_all([make_sample(response, gold)])[0]
    assert result["aggregate_reward_score"] == 0.0, metric_names(result)


def test_inline_math_does_not_span_lines():
    assert extract_answer("Answer $\n9\n$").answer is None
