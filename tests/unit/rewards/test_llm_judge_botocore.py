"""The judge's Converse call through a real botocore client: the request it builds is one the
service model accepts (tests/conftest.py validates it), and the reply is read as Bedrock sends it."""

from __future__ import annotations

import io
import re
from contextlib import redirect_stdout

from lambda_rewards.llm_judge.handler import make_judge_handler
from tests.fakes.bedrock_runtime import answering_client, converse_reply
from tests.unit.rewards.conftest import make_sample, scores

JUDGE = "us.anthropic.claude-haiku-4-5-20251001-v1:0"


def test_the_judge_scores_through_a_validated_converse_call():
    requests: list[dict] = []

    def answer(request: dict) -> dict:
        requests.append(request)
        nonce = re.search(r"verdict code, copied exactly: ([0-9a-f]{32})", request["system"][0]["text"])[1]
        return converse_reply(f'{{"nonce": "{nonce}", "score": 7, "reason": "mostly right"}}')

    client = answering_client(answer)
    handler = make_judge_handler(
        client_factory=lambda: client,
        environ={"JUDGE_MODEL_ID": JUDGE, "JUDGE_RUBRIC": "Reward correct answers."},
        sleep=lambda seconds: None,
    )
    with redirect_stdout(io.StringIO()):
        results = handler([make_sample("Paris.", {"rubric": "Capital of France?", "answer": "Paris"})], None)
    assert scores(results) == [0.7]
    [request] = requests
    assert request["operation"] == "Converse" and request["modelId"] == JUDGE
    assert request["inferenceConfig"]["temperature"] == 0.0
