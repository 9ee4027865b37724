"""`rft.client.openai_client`: the real openai SDK, signed with SigV4 for execute-api, to a local server."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from moto import mock_aws

from rft.client import openai_client, signed_openai_client
from rft.environment import EnvironmentNotDeployedError

REGION = "us-west-2"
COMPLETION = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "created": 1_790_000_000,
    "model": "math-nova",
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "#### 18", "refusal": None},
            "finish_reason": "stop",
            "logprobs": None,
        }
    ],
    "usage": {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15},
}
MODELS = {
    "object": "list",
    "data": [
        {"id": "prod", "object": "model", "created": 0, "owned_by": "rft-stack", "rft": {"kind": "alias"}}
    ],
}


@dataclass
class Captured:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class GatewayDouble:
    """Answers like the gateway and keeps each request exactly as it arrived."""

    url: str = ""
    requests: list[Captured] = field(default_factory=list)
    throttle_first: bool = False


@pytest.fixture
def gateway() -> Iterator[GatewayDouble]:
    double = GatewayDouble()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *_args: Any) -> None:
            return

        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            # Header names are case-insensitive and the client's casing is not part of the contract.
            headers = {name.lower(): value for name, value in self.headers.items()}
            double.requests.append(Captured(self.command, self.path, headers, body))
            if double.throttle_first and len(double.requests) == 1:
                status, payload, extra = 429, {"error": {"message": "slow down"}}, {"Retry-After": "0"}
            elif self.path == "/v1/models":
                status, payload, extra = 200, MODELS, {}
            else:
                status, payload, extra = 200, COMPLETION, {}
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for key, value in extra.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = _answer

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    host, port = server.server_address[:2]
    double.url = f"http://{host}:{port}/"
    try:
        yield double
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def session(monkeypatch) -> boto3.session.Session:
    for name in ("AWS_PROFILE", "AWS_REGION", "OPENAI_API_KEY", "OPENAI_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    # Explicit keys: moto replaces the environment's credentials while it is active.
    return boto3.session.Session(
        aws_access_key_id="AKIDCLIENT",
        aws_secret_access_key="client-secret",
        aws_session_token="client-token",
        region_name=REGION,
    )


def deploy_serving_stack(url: str, environment: str = "staging") -> None:
    """A `<env>-Serving` stack in moto's CloudFormation with the output the client reads."""
    template = {
        "Resources": {"Placeholder": {"Type": "AWS::SNS::Topic"}},
        "Outputs": {"GatewayUrl": {"Value": url}},
    }
    boto3.client("cloudformation", region_name=REGION).create_stack(
        StackName=f"{environment}-Serving", TemplateBody=json.dumps(template)
    )


def assert_signed_for_execute_api(captured: Captured, url: str) -> None:
    """The request carries a SigV4 signature for execute-api that verifies against its own bytes."""
    authorization = captured.headers["authorization"]
    match = re.fullmatch(
        r"AWS4-HMAC-SHA256 Credential=AKIDCLIENT/(\d{8})/us-west-2/execute-api/aws4_request, "
        r"SignedHeaders=([a-z0-9;-]+), Signature=([0-9a-f]{64})",
        authorization,
    )
    assert match, authorization
    assert match.group(2) == "host;x-amz-date;x-amz-security-token"
    assert captured.headers["x-amz-security-token"] == "client-token"
    amz_date = captured.headers["x-amz-date"]
    assert amz_date.startswith(match.group(1))
    # Recompute the signature from what the server received.
    expected = AWSRequest(
        method=captured.method,
        url=url.rstrip("/") + captured.path,
        data=captured.body,
        headers={"X-Amz-Date": amz_date, "X-Amz-Security-Token": "client-token"},
    )
    expected.context["timestamp"] = amz_date
    from botocore.credentials import Credentials

    signer = SigV4Auth(Credentials("AKIDCLIENT", "client-secret", "client-token"), "execute-api", REGION)
    string_to_sign = signer.string_to_sign(expected, signer.canonical_request(expected))
    assert match.group(3) == signer.signature(string_to_sign, expected)
    assert captured.headers["host"] == url.split("//", 1)[1].rstrip("/")


def test_the_helper_finds_the_gateway_and_signs_every_call_for_execute_api(gateway, session):
    with mock_aws():
        deploy_serving_stack(gateway.url)
        client = openai_client("staging", region=REGION, session=session)
        answer = client.chat.completions.create(
            model="prod", messages=[{"role": "user", "content": "What is 9 + 9?"}], temperature=0
        )
        models = client.models.list()

    assert answer.choices[0].message.content == "#### 18"
    assert answer.usage.total_tokens == 15
    assert [m.id for m in models.data] == ["prod"]
    chat, listing = gateway.requests
    assert (chat.method, chat.path) == ("POST", "/v1/chat/completions")
    assert json.loads(chat.body) == {
        "model": "prod",
        "messages": [{"role": "user", "content": "What is 9 + 9?"}],
        "temperature": 0,
    }
    assert (listing.method, listing.path, listing.body) == ("GET", "/v1/models", b"")
    for captured in gateway.requests:
        assert_signed_for_execute_api(captured, gateway.url)
        assert "Bearer" not in captured.headers["authorization"]


def test_a_retried_request_is_signed_again(gateway, session):
    gateway.throttle_first = True
    client = signed_openai_client(gateway.url + "v1", region=REGION, session=session, max_retries=1)
    answer = client.chat.completions.create(model="prod", messages=[{"role": "user", "content": "Hi"}])
    assert answer.id == "chatcmpl-1"
    assert len(gateway.requests) == 2
    for captured in gateway.requests:
        assert_signed_for_execute_api(captured, gateway.url)


def test_an_environment_that_is_not_deployed_is_a_clear_error(session):
    with mock_aws(), pytest.raises(EnvironmentNotDeployedError, match="staging-Serving"):
        openai_client("staging", region=REGION, session=session)
