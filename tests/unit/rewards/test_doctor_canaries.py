"""rft doctor's canary batches (rft.canaries) against the graders' own handlers: each grader of
lambda_rewards/ has one, its right answer scores 1 and its wrong answer 0 (the judge: a judge
following the rubric scores them high and low)."""

from __future__ import annotations

import importlib
import io
import json
from contextlib import redirect_stdout

import pytest

from rft import canaries
from rft.names import discover_graders
from stacks.constructs.grader import REWARDS_ROOT
from tests.unit.rewards.test_llm_judge import StubBedrock, judge


def test_doctor_every_grader_has_a_canary():
    assert set(discover_graders(REWARDS_ROOT)) == set(canaries.CANARIES)


@pytest.mark.parametrize("name", ["math_answer", "json_schema", "code_tests"])
def test_doctor_canary_scores_right_1_and_wrong_0_on_the_real_grader(name):
    canary = canaries.canary_for(name)
    handler = importlib.import_module(f"lambda_rewards.{name}.handler").handler
    with redirect_stdout(io.StringIO()):
        answer = handler(canary.batch(), None)
    assert canaries.scores_by_id(answer) == {canaries.RIGHT_ID: 1.0, canaries.WRONG_ID: 0.0}
    assert canary.problems(answer) == []


def test_doctor_judge_canary_passes_with_a_judge_that_follows_the_rubric():
    canary = canaries.canary_for("llm_judge")

    def verdict(request: dict) -> str:
        text = json.dumps(request["messages"])
        score = 0 if "Berlin" in text else 10
        return f'{{"nonce": "NONCE", "score": {score}, "reason": "rubric"}}'

    with redirect_stdout(io.StringIO()):
        answer = judge(StubBedrock(reply=verdict))(canary.batch(), None)
    assert canary.problems(answer) == []
    with redirect_stdout(io.StringIO()):
        lenient = judge(StubBedrock(reply=lambda request: '{"nonce": "NONCE", "score": 9, "reason": "x"}'))(
            canary.batch(), None
        )
    assert canary.problems(lenient) == ["the wrong answer scored 0.9 (expected at most 0.3)"]
