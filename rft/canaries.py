"""Canary batches: for every grader, one answer that must score 1 and one that must score 0.

`rft doctor` sends each deployed grader's `live` alias its canary batch, in the reward contract's
wire form (a JSON array of samples), and checks the scores. A grader without a canary here is
reported (warn), and a test keeps this module in step with `lambda_rewards/` and runs every
canary through the grader's own handler, so a canary that cannot pass is caught before a deploy.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

RIGHT_ID = "canary-right"
WRONG_ID = "canary-wrong"


@dataclass(frozen=True)
class Canary:
    """One prompt, its reference, a right and a wrong answer, and the scores they must get.

    A deterministic grader must give exactly 1 and 0. A model-judged grader (`llm_judge`) gives a
    verdict on its scale mapped to [0, 1]: the bounds say what still counts as right and wrong.
    """

    prompt: str
    reference: Any
    right: str
    wrong: str
    right_at_least: float = 1.0
    wrong_at_most: float = 0.0

    def batch(self) -> list[dict[str, Any]]:
        """The samples as Bedrock sends them: the prompt, the answer, the reference in metadata."""
        return [self._sample(RIGHT_ID, self.right), self._sample(WRONG_ID, self.wrong)]

    def _sample(self, sample_id: str, answer: str) -> dict[str, Any]:
        return {
            "id": sample_id,
            "messages": [
                {"role": "user", "content": self.prompt},
                {"role": "assistant", "content": answer},
            ],
            "metadata": {"reference_answer": self.reference, "task_id": f"rft-doctor-{sample_id}"},
        }

    def problems(self, response: Any) -> list[str]:
        """What is wrong with a grader's answer to `batch()`; empty when the scores are as expected."""
        scores = scores_by_id(response)
        if isinstance(scores, str):
            return [scores]
        problems = []
        right, wrong = scores.get(RIGHT_ID), scores.get(WRONG_ID)
        if right is None or wrong is None:
            missing = [sample for sample, score in ((RIGHT_ID, right), (WRONG_ID, wrong)) if score is None]
            return [f"no score for {', '.join(missing)}"]
        if right < self.right_at_least:
            problems.append(
                f"the right answer scored {right:g} (expected {_expected(self.right_at_least, 1)})"
            )
        if wrong > self.wrong_at_most:
            problems.append(
                f"the wrong answer scored {wrong:g} (expected {_expected(self.wrong_at_most, 0)})"
            )
        return problems


def _expected(bound: float, exact: float) -> str:
    if bound == exact:
        return f"{exact:g}"
    return f"at least {bound:g}" if exact == 1 else f"at most {bound:g}"


def scores_by_id(response: Any) -> dict[str, float] | str:
    """``{id: aggregate_reward_score}`` of a contract answer, or a sentence saying why it is not one."""
    if not isinstance(response, Sequence) or isinstance(response, str | bytes):
        return f"the answer is not a JSON array of results ({type(response).__name__})"
    scores: dict[str, float] = {}
    for entry in response:
        if not isinstance(entry, Mapping):
            return "a result is not a JSON object"
        score = entry.get("aggregate_reward_score")
        if isinstance(score, bool) or not isinstance(score, int | float):
            return f"result {entry.get('id')!r} has no numeric aggregate_reward_score"
        scores[str(entry.get("id"))] = float(score)
    return scores


CANARIES: Mapping[str, Canary] = {
    "math_answer": Canary(
        prompt="A box holds 6 rows of 7 eggs. How many eggs are in the box?",
        reference={"answer": "42"},
        right="6 rows of 7 eggs is 6 * 7 = 42 eggs.\n\n#### 42",
        wrong="6 rows of 7 eggs is 6 + 7 = 13 eggs.\n\n#### 13",
    ),
    "code_tests": Canary(
        prompt="Write a Python program that reads one line and prints it reversed.",
        reference={"cases": [{"stdin": "abc\n", "stdout": "cba\n"}, {"stdin": "rft\n", "stdout": "tfr\n"}]},
        right="```python\nprint(input()[::-1])\n```\n",
        wrong="```python\nprint(input())\n```\n",
    ),
    "json_schema": Canary(
        prompt='Answer with a JSON object {"city": ...} naming the capital of France.',
        reference={
            "schema": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
                "additionalProperties": False,
            },
            "expected": {"city": "Paris"},
        },
        right='```json\n{"city": "Paris"}\n```',
        wrong="The capital of France is Paris.",
    ),
    "llm_judge": Canary(
        prompt="What is the capital of France? Answer in one sentence.",
        reference={
            "rubric": (
                "Score 10 if the response says the capital of France is Paris; score 0 if it names "
                "any other city."
            ),
            "answer": "The capital of France is Paris.",
        },
        right="The capital of France is Paris.",
        wrong="The capital of France is Berlin.",
        right_at_least=0.7,
        wrong_at_most=0.3,
    ),
}


def canary_for(grader: str) -> Canary | None:
    return CANARIES.get(grader)
