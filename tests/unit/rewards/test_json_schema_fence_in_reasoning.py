"""json_schema attack: a valid JSON block inside the reasoning, a hedge or nothing usable after it.

The JSON is read from the final answer only (after the last ``</think>``): a fence that appears
only in the reasoning earns nothing, however the answer after it is worded.
"""

from __future__ import annotations

import io
import json
from contextlib import redirect_stdout

import pytest

from lambda_rewards.json_schema import handler as js
from tests.unit.rewards.conftest import make_sample, metric_names

SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
REFERENCE = {"schema": SCHEMA, "expected": {"city": "Paris"}}
GOOD = json.dumps({"city": "Paris"})


def grade(response: str) -> dict:
    with redirect_stdout(io.StringIO()):
        return js.handler([make_sample(response, REFERENCE)], None)[0]


@pytest.mark.parametrize(
    "response",
    [
        f"<think>maybe\n```json\n{GOOD}\n```\n</think>\nnot sure, sorry",
        f"<think>```\n{GOOD}\n```</think>I cannot answer.",
        f"<THINK>```json\n{GOOD}\n```</THINK> not sure",
        f"<think>```json\n{GOOD}\n```",  # cut off inside the reasoning
        f"<think>a</think>not sure<think>```json\n{GOOD}\n```",  # reopened, never closed
    ],
)
def test_a_fence_only_inside_the_reasoning_earns_nothing(response):
    result = grade(response)
    assert result["aggregate_reward_score"] == 0.0


def test_unclosed_reasoning_is_reported_as_no_answer():
    assert "error_no_answer" in metric_names(grade(f"<think>```json\n{GOOD}\n```"))


@pytest.mark.parametrize(
    "response",
    [
        f"<think>draft ```json\n{{}}\n```</think>\n```json\n{GOOD}\n```",
        f"<think>draft</think>\n{GOOD}",
        f"reasoning without an opening tag\n</think>\n{GOOD}",
    ],
)
def test_the_json_in_the_answer_is_what_counts(response):
    assert grade(response)["aggregate_reward_score"] == 1.0
