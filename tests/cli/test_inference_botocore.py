"""Chatting with a Bedrock-served model through a real botocore client: Converse and
ConverseStream requests the service model accepts (tests/conftest.py validates them), replies read
as Bedrock sends them."""

from __future__ import annotations

from rft.cli.inference import BedrockTarget, Sampling
from tests.fakes.bedrock_runtime import answering_client, converse_reply

DEPLOYMENT = "arn:aws:bedrock:us-east-1:123456789012:custom-model-deployment/abcdefgh1234"
MESSAGES = [{"role": "system", "content": "Answer briefly."}, {"role": "user", "content": "2+2?"}]


def test_a_completion_goes_through_a_validated_converse_call():
    requests: list[dict] = []
    client = answering_client(
        lambda request: requests.append(request) or converse_reply("4"), region="us-east-1"
    )
    target = BedrockTarget(client, DEPLOYMENT, "gsm8k-v1")
    answers = target.complete(MESSAGES, Sampling(max_tokens=64, temperature=0.5, top_p=0.9), n=2)
    assert [a.text for a in answers] == ["4", "4"]
    assert answers[0].finish_reason == "end_turn"
    assert len(requests) == 2 and requests[0]["modelId"] == DEPLOYMENT
    assert requests[0]["system"] == [{"text": "Answer briefly."}]
    assert requests[0]["inferenceConfig"] == {"maxTokens": 64, "temperature": 0.5, "topP": 0.9}


def test_a_stream_goes_through_a_validated_converse_stream_call():
    events = [
        {"messageStart": {"role": "assistant"}},
        {"contentBlockDelta": {"delta": {"text": "4"}, "contentBlockIndex": 0}},
        {"contentBlockDelta": {"delta": {"text": "."}, "contentBlockIndex": 0}},
        {"messageStop": {"stopReason": "end_turn"}},
    ]
    client = answering_client(lambda request: {"stream": events}, region="us-east-1")
    target = BedrockTarget(client, DEPLOYMENT, "gsm8k-v1")
    assert "".join(target.stream(MESSAGES, Sampling(max_tokens=16))) == "4."
