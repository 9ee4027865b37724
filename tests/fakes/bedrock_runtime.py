"""A real botocore ``bedrock-runtime`` client whose Converse and ConverseStream are answered here.

moto does not serve bedrock-runtime, and a ``Stubber`` answers with a reply fixed before the call,
while a judge's reply must echo what its request carried (a per-call verdict code). So the answer
is computed from the request, after botocore has validated and serialized it (the hook runs at
``before-call``, as the Stubber's does): the request is held to the service model, the code's
handling of the reply is what is tested. A Converse answer is itself checked against the output
shape, so a fake reply missing `stopReason`, `usage` or `metrics` fails the test.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

import boto3
from botocore.awsrequest import AWSResponse
from botocore.validate import ParamValidator

Answer = Callable[[dict[str, Any]], dict[str, Any]]


def answering_client(answer: Answer, *, region: str = "us-west-2") -> Any:
    """A bedrock-runtime client; ``answer(request)`` gives each call's parsed response. The
    request is the JSON body with ``modelId`` (from the path) and ``operation`` added."""
    client = boto3.client(
        "bedrock-runtime", region_name=region, aws_access_key_id="testing", aws_secret_access_key="testing"
    )
    client.meta.events.register("before-call.bedrock-runtime.Converse", _handler(answer, "Converse"))
    client.meta.events.register(
        "before-call.bedrock-runtime.ConverseStream", _handler(answer, "ConverseStream")
    )
    return client


def converse_reply(text: str, *, stop_reason: str = "end_turn") -> dict[str, Any]:
    """A Converse response with every member the output shape requires."""
    return {
        "output": {"message": {"role": "assistant", "content": [{"text": text}]}},
        "stopReason": stop_reason,
        "usage": {
            "inputTokens": 10,
            "outputTokens": len(text.split()),
            "totalTokens": 10 + len(text.split()),
        },
        "metrics": {"latencyMs": 5},
    }


def _handler(answer: Answer, operation: str) -> Callable[..., tuple[AWSResponse, dict[str, Any]]]:
    def handle(model: Any, params: dict[str, Any], **_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        request = json.loads(params.get("body") or b"{}")
        path = params["url_path"]  # /model/{modelId}/converse(-stream)
        request["modelId"] = unquote(path.split("/")[2])
        request["operation"] = operation
        parsed = answer(request)
        if operation == "Converse":
            report = ParamValidator().validate(parsed, model.output_shape)
            assert not report.has_errors(), report.generate_report()
        return AWSResponse(params.get("url", ""), 200, {}, None), parsed

    return handle
