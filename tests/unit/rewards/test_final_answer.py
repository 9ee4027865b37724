"""The shared rule: with reasoning, the answer is what follows the last ``</think>``."""

from __future__ import annotations

import pytest

from lambda_rewards.common.answer import final_answer


@pytest.mark.parametrize(
    ("response", "answer"),
    [
        ("  42  ", "42"),
        ("<think>x is 6*7</think>\n42", "42"),
        ("<think>a</think> draft <think>b</think> final", "final"),
        # chat templates that open <think> in the prompt: the response only closes it
        ("x is 6*7\n</think>\n\n42", "42"),
        # spelling the tag differently does not turn reasoning into answer
        ("<THINK>\\boxed{5}</THINK> not sure", "not sure"),
        ("<think>\\boxed{5}</ think > not sure", "not sure"),
        ("<thinking>```json\n{}\n```</thinking>not sure", "not sure"),
        ("<Think>\t\\boxed{5}<\t/Thinking\t>maybe", "maybe"),
    ],
)
def test_the_answer_follows_the_last_closing_tag(response, answer):
    assert final_answer(response) == answer


@pytest.mark.parametrize(
    "response",
    [
        "<think>\\boxed{5}",  # cut off while reasoning
        "<think>so \\boxed{5}</think>not sure<think>hmm \\boxed{6}",  # reopened and never closed
        "<think>a</think><think>b</think>   ",  # closed, but nothing after
        "",
    ],
)
def test_unclosed_reasoning_or_nothing_after_it_is_no_answer(response):
    assert final_answer(response) == ""


def test_tag_lookalikes_are_answer_text():
    assert final_answer("<thinker> 5") == "<thinker> 5"
    assert final_answer("think> 5 </thin>") == "think> 5 </thin>"


@pytest.mark.parametrize(
    "hostile",
    [
        # "<" then a long run of spaces: a pattern with two adjacent space runs re-splits the run
        # at every length (20,000 spaces took 15 s); possessive runs scan it once
        "<" + " " * 200_000 + "</think>ok",
        "< \t " * 50_000 + "</think>ok",
        "<" * 200_000 + "</think>ok",
    ],
)
def test_near_miss_tags_in_bulk_are_scanned_once(hostile):
    assert final_answer(hostile) == "ok"
