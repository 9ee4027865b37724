"""`rft models list | promote | history` and `rft chat`, over moto SSM and the fake OpenAI server."""

from __future__ import annotations

import json
from typing import Any

import pytest

from rft.environment import Environment
from rft.records import EvaluationSummary


def _evaluate(deployed, name: str, mean: float, reward: str = "math_answer") -> None:
    deployed.registry().put_evaluation(
        EvaluationSummary(name=name, reward=reward, mean_reward=mean, samples=50, dataset="heldout.jsonl")
    )


def test_models_list_shows_records_evaluations_and_aliases(rft, deployed) -> None:
    assert "No trained models" in rft("models", "list").stderr
    deployed.put_model("gsm8k-v1", base_url="http://unused/v1")
    deployed.put_model("gsm8k-v2", base_url="http://unused/v1")
    _evaluate(deployed, "gsm8k-v1", 0.71)
    deployed.registry().set_alias("prod", "gsm8k-v1", by="test", reason="first")

    listed = rft("models", "list", "--json").json()
    assert [row["record"]["name"] for row in listed["models"]] == ["gsm8k-v1", "gsm8k-v2"]
    assert listed["models"][0]["evaluation"]["mean_reward"] == 0.71
    assert listed["models"][0]["aliases"] == ["prod"]
    assert listed["models"][1]["evaluation"] is None
    assert listed["aliases"]["prod"]["model"] == "gsm8k-v1"

    table = rft("models", "list").stdout
    assert "gsm8k-v1" in table and "0.710" in table and "prod" in table


def test_promote_follows_the_rule_and_force_needs_a_reason(rft, deployed) -> None:
    for name in ("v1", "v2", "v3"):
        deployed.put_model(name, base_url="http://unused/v1")
    refused = rft("models", "promote", "v1", "--alias", "prod")
    assert refused.exit_code == 2
    assert "'v1' has no evaluation report" in refused.stderr

    _evaluate(deployed, "v1", 0.70)
    assert rft("models", "promote", "v1", "--alias", "prod").exit_code == 0
    _evaluate(deployed, "v2", 0.65)
    worse = rft("models", "promote", "v2", "--alias", "prod")
    assert worse.exit_code == 2
    assert "mean reward 0.6500 of 'v2' is below 0.7000 of 'v1'" in worse.stderr

    forced = rft("models", "promote", "v2", "--alias", "prod", "--force", "hotfix for ticket 42", "--json")
    assert forced.exit_code == 0, forced.stderr
    assert forced.json()["forced"] is True and forced.json()["previous"] == "v1"

    _evaluate(deployed, "v3", 0.80)
    better = rft("models", "promote", "v3", "--alias", "prod")
    assert better.exit_code == 0
    assert "Alias 'prod' now points at 'v3' from 'v2'" in better.stderr

    history = rft("models", "history", "prod", "--json").json()
    assert [(h["model"], h["previous"], h["forced"]) for h in history] == [
        ("v3", "v2", False),
        ("v2", "v1", True),
        ("v1", None, False),
    ]
    assert "hotfix for ticket 42" in history[1]["reason"]
    assert history[0]["by"]  # the caller's identity (moto's STS) or the local user
    table = rft("models", "history", "prod").stdout
    assert "forced" in table and "hotfix for ticket 42" in table


def test_history_of_an_alias_never_set(rft, deployed) -> None:
    outcome = rft("models", "history", "canary")
    assert outcome.exit_code == 0
    assert "never been set" in outcome.stderr
    assert rft("models", "history", "canary", "--json").json() == []


def test_chat_streams_a_mantle_model_through_the_openai_api(rft, deployed, fake_openai) -> None:
    record = deployed.put_model("gsm8k-v1", base_url=fake_openai.base_url, model_id="ft:gsm8k-v1")
    fake_openai.add_job("ftjob-1", fine_tuned_model=record.model_id, status="succeeded")
    fake_openai.reply = lambda request, index: "The answer is 3.\n#### 3"
    outcome = rft("chat", "gsm8k-v1", "How many bolts?", "--system", "Be brief.")
    assert outcome.exit_code == 0, outcome.stderr
    assert outcome.stdout == "The answer is 3.\n#### 3\n"
    sent = fake_openai.requests_to("/v1/chat/completions")[-1].body
    assert sent["stream"] is True and sent["model"] == "ft:gsm8k-v1"
    assert sent["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "How many bolts?"},
    ]
    assert fake_openai.requests_to("/v1/chat/completions")[-1].headers["authorization"].startswith("Bearer ")


def test_chat_by_alias_with_json_output(rft, deployed, fake_openai) -> None:
    deployed.put_model("gsm8k-v1", base_url=fake_openai.base_url, model_id="qwen.qwen3-32b")
    deployed.registry().set_alias("prod", "gsm8k-v1", by="t", reason="r")
    result = rft("chat", "prod", "hello", "--json").json()
    assert result["text"] == "echo: hello"
    assert result["provider"] == "mantle" and "gsm8k-v1" in result["resolved"]
    assert result["usage"]["total_tokens"] > 0


def test_chat_with_a_base_model_reads_the_prompt_from_stdin(rft, deployed, fake_openai) -> None:
    outcome = rft("chat", "openai.gpt-oss-20b", "-", "--no-stream", input="from stdin\n")
    assert outcome.exit_code == 0, outcome.stderr
    assert outcome.stdout == "echo: from stdin\n\n"


class FakeRuntime:
    """bedrock-runtime's Converse and ConverseStream, as far as the client uses them."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def converse_stream(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(("converse_stream", kwargs))
        return {
            "stream": [
                {"messageStart": {"role": "assistant"}},
                {"contentBlockDelta": {"delta": {"text": "Nova "}, "contentBlockIndex": 0}},
                {"contentBlockDelta": {"delta": {"text": "says 3"}, "contentBlockIndex": 0}},
                {"messageStop": {"stopReason": "end_turn"}},
                {"metadata": {"usage": {"inputTokens": 5, "outputTokens": 2}}},
            ]
        }

    def converse(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(("converse", kwargs))
        return {
            "output": {"message": {"role": "assistant", "content": [{"text": "Nova says 3"}]}},
            "stopReason": "end_turn",
            "usage": {"inputTokens": 5, "outputTokens": 3},
        }


@pytest.fixture
def runtime(monkeypatch: pytest.MonkeyPatch) -> FakeRuntime:
    fake = FakeRuntime()
    original = Environment.client

    def client(self: Environment, service: str) -> Any:
        return fake if service == "bedrock-runtime" else original(self, service)

    monkeypatch.setattr(Environment, "client", client)
    return fake


def test_chat_streams_a_bedrock_deployment_through_converse_stream(rft, deployed, runtime) -> None:
    deployment = "arn:aws:bedrock:us-west-2:123456789012:custom-model-deployment/abcdefghijkl"
    deployed.put_model(
        "nova-v1",
        base_url=None,
        provider="bedrock",
        base_model="amazon.nova-2-lite-v1:0:256k",
        model_id=deployment,
        deployment_arn=deployment,
    )
    outcome = rft("chat", "nova-v1", "How many?", "--system", "Be brief.", "--max-tokens", "64")
    assert outcome.exit_code == 0, outcome.stderr
    assert outcome.stdout == "Nova says 3\n"
    name, call = runtime.calls[-1]
    assert name == "converse_stream" and call["modelId"] == deployment
    assert call["system"] == [{"text": "Be brief."}]
    assert call["messages"] == [{"role": "user", "content": [{"text": "How many?"}]}]
    assert call["inferenceConfig"]["maxTokens"] == 64

    result = rft("chat", "nova-v1", "How many?", "--json").json()
    assert result["text"] == "Nova says 3" and result["provider"] == "bedrock"


def test_chat_refuses_a_model_trained_without_a_deployment(rft, deployed) -> None:
    deployed.put_model(
        "nova-raw",
        base_url=None,
        provider="bedrock",
        model_id="arn:aws:bedrock:us-west-2:123456789012:custom-model/amazon.nova/abc",
        status="trained",
    )
    outcome = rft("chat", "nova-raw", "hi")
    assert outcome.exit_code == 2
    assert "is trained, not callable" in outcome.stderr


def test_chat_when_the_endpoint_is_down_or_refuses(rft, deployed, fake_openai, monkeypatch) -> None:
    monkeypatch.setattr("rft.cli.inference.MANTLE_MAX_RETRIES", 0)
    deployed.put_model("gone", base_url="http://127.0.0.1:9/v1")
    down = rft("chat", "gone", "hi", "--no-stream", env_overrides={"RFT_MANTLE_BASE_URL": ""})
    assert down.exit_code == 2
    assert "Cannot reach the model endpoint http://127.0.0.1:9" in down.stderr

    deployed.put_model("throttled", base_url=fake_openai.base_url, model_id="openai.gpt-oss-20b")
    fake_openai.fail_next("/v1/chat/completions", 429, "Too many tokens")
    throttled = rft("chat", "throttled", "hi", "--no-stream")
    assert throttled.exit_code == 2
    assert "throttling (429): Too many tokens" in throttled.stderr


def _serve_gateway_from(deployed, url: str) -> None:
    cloudformation = deployed.client("cloudformation")
    cloudformation.delete_stack(StackName="staging-Serving")
    template = {"Resources": {"M": {"Type": "AWS::SNS::Topic"}}, "Outputs": {"GatewayUrl": {"Value": url}}}
    cloudformation.create_stack(StackName="staging-Serving", TemplateBody=json.dumps(template))


def test_chat_and_sampling_through_the_gateway_sign_with_sigv4(rft, deployed, fake_openai, tmp_path) -> None:
    _serve_gateway_from(deployed, fake_openai.base_url.removesuffix("/v1"))
    fake_openai.models.append("prod")  # the gateway resolves aliases itself
    outcome = rft("chat", "prod", "hello", "--gateway", "--json")
    assert outcome.exit_code == 0, outcome.stderr
    assert outcome.json()["text"] == "echo: hello" and outcome.json()["provider"] == "gateway"
    request = fake_openai.requests_to("/v1/chat/completions")[-1]
    assert request.body["model"] == "prod"
    assert request.headers["authorization"].startswith("AWS4-HMAC-SHA256 Credential=")
    assert "/us-west-2/execute-api/aws4_request" in request.headers["authorization"]

    data = tmp_path / "train.jsonl"
    data.write_text(
        json.dumps({"messages": [{"role": "user", "content": "q"}], "reference_answer": "1"}) + "\n"
    )
    sampled = rft(
        "reward",
        "test",
        "-r",
        "math_answer",
        "-d",
        str(data),
        "--sample-from",
        "prod",
        "--gateway",
        "-k",
        "2",
    )
    assert sampled.exit_code == 0, sampled.stderr
    assert "through the staging gateway" in sampled.stderr


def test_converse_messages_alternate_and_carry_the_system_prompt() -> None:
    from rft.cli.inference import to_converse

    system, turns = to_converse(
        [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Context."},
            {"role": "user", "content": [{"type": "text", "text": "Question?"}]},
        ]
    )
    assert system == [{"text": "Be brief."}]
    assert turns == [{"role": "user", "content": [{"text": "Context."}, {"text": "Question?"}]}]


def test_models_delete_asks_refuses_an_aliased_model_and_removes_the_record(
    rft, deployed, fake_openai
) -> None:
    deployed.put_model("old", base_url=fake_openai.base_url, model_id="ft:openai.gpt-oss-20b:old")
    deployed.put_model("kept", base_url=fake_openai.base_url)
    _evaluate(deployed, "old", 0.5)
    deployed.registry().set_alias("prod", "kept", by="test", reason="first")

    aliased = rft("models", "delete", "kept", "--yes")
    assert aliased.exit_code == 2 and "is behind alias 'prod': move the alias first" in aliased.stderr

    declined = rft("models", "delete", "old", input="n\n")
    assert declined.exit_code != 0 and "Delete model 'old'" in declined.stderr
    assert deployed.registry().find_model("old") is not None

    deleted = rft("models", "delete", "old", "--yes", "--json")
    assert deleted.exit_code == 0, deleted.stderr
    assert deleted.json()["deleted"][-1] == "record"
    assert [r.method for r in fake_openai.requests_to("/v1/models/ft:openai.gpt-oss-20b:old")] == ["DELETE"]
    assert deployed.registry().find_model("old") is None
    assert deployed.registry().get_evaluation("old") is None
    assert rft("models", "delete", "old", "--yes").exit_code == 2  # no such model any more
