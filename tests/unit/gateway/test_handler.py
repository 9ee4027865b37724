"""The gateway end to end in process: registry in moto SSM, Bedrock stubbed, Mantle a local fake."""

from __future__ import annotations

import json
import re

import openai
import pytest

from lambda_gateway.handler import build_gateway, handler
from tests.unit.gateway.conftest import (
    ACCOUNT,
    DEPLOYMENT_ARN,
    ENVIRONMENT,
    MANTLE_MODEL_ID,
    NOW,
    REGION,
    body_of,
    chat_event,
    converse_response,
    models_event,
)

MESSAGES = [
    {"role": "system", "content": "Answer with #### <number>."},
    {"role": "user", "content": "What is 9 + 9?"},
]


def error_of(response):
    body = body_of(response)
    assert set(body) == {"error"}
    assert set(body["error"]) == {"message", "type", "param", "code"}
    return body["error"]


# --- Bedrock deployments through Converse --------------------------------------------------------


def test_an_alias_of_a_bedrock_deployment_is_called_with_converse_and_translated_faithfully(world):
    world.bedrock.add_response(
        "converse",
        converse_response("#### 18", "max_tokens", (31, 7)),
        expected_params={
            "modelId": DEPLOYMENT_ARN,
            "system": [{"text": "Answer with #### <number>."}, {"text": "Be brief."}],
            "messages": [
                {"role": "user", "content": [{"text": "What is 9 + 9?"}]},
                {"role": "assistant", "content": [{"text": "Let me think."}]},
                {"role": "user", "content": [{"text": "Go on."}, {"text": "Just the number."}]},
            ],
            "inferenceConfig": {"maxTokens": 64, "temperature": 0.2, "topP": 0.9, "stopSequences": ["\n\n"]},
        },
    )
    response = world.chat(
        model="prod",
        messages=[
            *MESSAGES,
            {"role": "assistant", "content": [{"type": "text", "text": "Let me think."}]},
            {"role": "developer", "content": "Be brief."},
            {"role": "user", "content": "Go on."},
            {"role": "user", "content": [{"type": "text", "text": "Just the number."}]},
        ],
        temperature=0.2,
        top_p=0.9,
        max_tokens=64,
        stop="\n\n",
    )
    assert response["statusCode"] == 200, response
    assert response["headers"]["x-rft-model"] == "math-nova"
    completion = body_of(response)
    assert completion["id"].startswith("chatcmpl-")
    assert completion["object"] == "chat.completion"
    assert completion["created"] == NOW
    assert completion["model"] == "math-nova"
    assert completion["choices"] == [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "#### 18", "refusal": None},
            "finish_reason": "length",
            "logprobs": None,
        }
    ]
    assert completion["usage"] == {"prompt_tokens": 31, "completion_tokens": 7, "total_tokens": 38}
    # What the openai SDK makes of it.
    parsed = openai.types.chat.ChatCompletion.model_validate(completion)
    assert parsed.choices[0].message.content == "#### 18"


def test_a_model_name_resolves_without_an_alias_and_max_completion_tokens_and_stop_lists_translate(world):
    world.bedrock.add_response(
        "converse",
        converse_response(),
        expected_params={
            "modelId": DEPLOYMENT_ARN,
            "system": [{"text": "Answer with #### <number>."}],
            "messages": [{"role": "user", "content": [{"text": "What is 9 + 9?"}]}],
            "inferenceConfig": {"maxTokens": 10, "stopSequences": ["####", "END"]},
        },
    )
    response = world.chat(
        model="math-nova", messages=MESSAGES, max_completion_tokens=10, stop=["####", "END"]
    )
    assert response["statusCode"] == 200
    assert body_of(response)["model"] == "math-nova"


@pytest.mark.parametrize(
    ("stop_reason", "finish_reason"),
    [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("max_tokens", "length"),
        ("model_context_window_exceeded", "length"),
        ("guardrail_intervened", "content_filter"),
        ("content_filtered", "content_filter"),
    ],
)
def test_converse_stop_reasons_map_to_openai_finish_reasons(world, stop_reason, finish_reason):
    world.bedrock.add_response("converse", converse_response(stop_reason=stop_reason))
    response = world.chat(model="prod", messages=MESSAGES)
    assert body_of(response)["choices"][0]["finish_reason"] == finish_reason


def test_without_parameters_converse_gets_no_inference_config_and_no_system(world):
    world.bedrock.add_response(
        "converse",
        converse_response(),
        expected_params={
            "modelId": DEPLOYMENT_ARN,
            "messages": [{"role": "user", "content": [{"text": "Hi"}]}],
        },
    )
    assert world.chat(model="prod", messages=[{"role": "user", "content": "Hi"}])["statusCode"] == 200


# --- Mantle models through the OpenAI-compatible API ---------------------------------------------


def test_an_alias_of_a_mantle_model_is_forwarded_signed_with_the_functions_role(world):
    world.mantle.reply = lambda request, index: {"content": "#### 18", "finish_reason": "stop"}
    response = world.chat(
        model="canary",
        messages=[{"role": "developer", "content": "Answer with #### <number>."}, MESSAGES[1]],
        temperature=0.0,
        max_completion_tokens=32,
        stop=["\n\n"],
        user="end-user-7",
    )
    assert response["statusCode"] == 200, response
    completion = body_of(response)
    assert completion["model"] == "math-oss"
    assert completion["choices"][0]["message"]["content"] == "#### 18"
    assert completion["choices"][0]["finish_reason"] == "stop"
    assert set(completion["usage"]) >= {"prompt_tokens", "completion_tokens", "total_tokens"}
    assert response["headers"]["x-rft-model"] == "math-oss"

    (sent,) = world.mantle.requests_to("/v1/chat/completions", "POST")
    assert sent.body == {
        "model": MANTLE_MODEL_ID,
        "messages": [
            {"role": "system", "content": "Answer with #### <number>."},
            {"role": "user", "content": "What is 9 + 9?"},
        ],
        "temperature": 0.0,
        "max_completion_tokens": 32,
        "stop": ["\n\n"],
    }
    # SigV4 for bedrock-mantle with the role's own credentials (moto's stand-ins here): no API key.
    assert re.match(
        rf"AWS4-HMAC-SHA256 Credential=\w+/\d{{8}}/{REGION}/bedrock-mantle/aws4_request, "
        r"SignedHeaders=\S*host",
        {name.lower(): value for name, value in sent.headers.items()}["authorization"],
    )


def test_mantle_text_parts_keep_their_shape_and_a_single_stop_string_stays_a_string(world):
    response = world.chat(
        model="math-oss",
        messages=[
            {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}
        ],
        stop="END",
        max_tokens=5,
    )
    assert response["statusCode"] == 200
    (sent,) = world.mantle.requests_to("/v1/chat/completions", "POST")
    assert sent.body["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}
    ]
    assert sent.body["stop"] == "END"
    assert sent.body["max_tokens"] == 5


# --- Alias resolution ------------------------------------------------------------------------------


def test_an_alias_wins_over_a_model_of_the_same_name(world):
    # The registry refuses to create such an alias; one written by hand must still resolve alias-first.
    world.ssm.put_parameter(
        Name=f"/rft/{ENVIRONMENT}/aliases/math-nova", Value='{"model": "math-oss"}', Type="String"
    )
    response = world.chat(model="math-nova", messages=MESSAGES)
    assert body_of(response)["model"] == "math-oss"


def test_moving_an_alias_moves_the_traffic(world):
    world.registry.set_alias("prod", "math-oss", by="test", reason="promoted")
    response = world.chat(model="prod", messages=MESSAGES)
    assert response["statusCode"] == 200
    assert body_of(response)["model"] == "math-oss"


# --- Errors ----------------------------------------------------------------------------------------


def test_an_unknown_model_is_404_model_not_found(world):
    response = world.chat(model="gpt-4o", messages=MESSAGES)
    assert response["statusCode"] == 404
    error = error_of(response)
    assert error["code"] == "model_not_found"
    assert error["param"] == "model"
    assert error["type"] == "invalid_request_error"
    assert "'gpt-4o'" in error["message"]


def test_a_trained_but_undeployed_model_is_404(world):
    response = world.chat(model="math-undeployed", messages=MESSAGES)
    assert response["statusCode"] == 404
    assert "not deployed" in error_of(response)["message"]


@pytest.mark.parametrize("raw", ["{not json", "", "[1, 2]", '"text"'])
def test_bad_json_is_400(offline, raw):
    response = offline.handle(chat_event(raw, raw=True))
    assert response["statusCode"] == 400
    assert error_of(response)["code"] == "invalid_json"


def test_a_base64_encoded_body_is_read(world):
    world.bedrock.add_response("converse", converse_response())
    response = world.handle(chat_event({"model": "prod", "messages": MESSAGES}, base64_encoded=True))
    assert response["statusCode"] == 200


@pytest.mark.parametrize(
    ("body", "param", "code"),
    [
        ({"model": "prod"}, "messages", "missing_required_parameter"),
        ({"model": "prod", "messages": []}, "messages", "invalid_value"),
        ({"messages": MESSAGES}, "model", "missing_required_parameter"),
        ({"model": "prod", "messages": [{"role": "system", "content": "x"}]}, "messages", "invalid_value"),
        ({"model": "prod", "messages": [{"role": "user"}]}, "messages[0].content", "invalid_value"),
        (
            {"model": "prod", "messages": [{"role": "robot", "content": "x"}]},
            "messages[0].role",
            "invalid_value",
        ),
        ({"model": "prod", "messages": MESSAGES, "temperature": 2.5}, "temperature", "invalid_value"),
        ({"model": "prod", "messages": MESSAGES, "temperature": "hot"}, "temperature", "invalid_type"),
        ({"model": "prod", "messages": MESSAGES, "top_p": 1.5}, "top_p", "invalid_value"),
        ({"model": "prod", "messages": MESSAGES, "max_tokens": 0}, "max_tokens", "invalid_value"),
        (
            {"model": "prod", "messages": MESSAGES, "max_tokens": 5, "max_completion_tokens": 6},
            "max_tokens",
            "invalid_value",
        ),
        ({"model": "prod", "messages": MESSAGES, "stop": ["a", "b", "c", "d", "e"]}, "stop", "invalid_value"),
        ({"model": "prod", "messages": MESSAGES, "stop": 7}, "stop", "invalid_type"),
    ],
)
def test_invalid_requests_are_400_naming_the_parameter(offline, body, param, code):
    response = offline.chat(**body)
    assert response["statusCode"] == 400, response
    error = error_of(response)
    assert (error["param"], error["code"]) == (param, code)
    assert error["type"] == "invalid_request_error"


@pytest.mark.parametrize(
    ("extra", "param"),
    [
        ({"n": 2}, "n"),
        ({"tools": [{"type": "function", "function": {"name": "f"}}]}, "tools"),
        ({"tool_choice": "auto"}, "tool_choice"),
        ({"logprobs": True}, "logprobs"),
        ({"top_logprobs": 3}, "top_logprobs"),
        ({"response_format": {"type": "json_object"}}, "response_format"),
        ({"presence_penalty": 0.5}, "presence_penalty"),
        ({"seed": 7}, "seed"),
        ({"something_new": 1}, "something_new"),
    ],
)
def test_unsupported_parameters_are_400_naming_them(offline, extra, param):
    response = offline.chat(model="prod", messages=MESSAGES, **extra)
    assert response["statusCode"] == 400
    error = error_of(response)
    assert error["param"] == param
    assert error["code"] == "unsupported_parameter"
    assert f"'{param}'" in error["message"]


def test_stream_true_is_400_saying_streaming_is_not_supported(offline):
    response = offline.chat(model="prod", messages=MESSAGES, stream=True)
    assert response["statusCode"] == 400
    error = error_of(response)
    assert error["param"] == "stream"
    assert "streaming" in error["message"]


def test_neutral_values_and_nulls_are_accepted(world):
    world.bedrock.add_response("converse", converse_response())
    response = world.chat(
        model="prod",
        messages=MESSAGES,
        stream=False,
        n=1,
        logprobs=False,
        presence_penalty=0,
        frequency_penalty=0.0,
        tools=[],
        temperature=None,
        seed=None,
    )
    assert response["statusCode"] == 200, response


@pytest.mark.parametrize(
    ("message", "param"),
    [
        ({"role": "tool", "content": "42", "tool_call_id": "1"}, "messages[1].role"),
        (
            {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:"}}]},
            "messages[1].content[0].type",
        ),
        (
            {"role": "assistant", "content": None, "tool_calls": [{"id": "1", "type": "function"}]},
            "messages[1].tool_calls",
        ),
    ],
)
def test_unsupported_message_content_is_400_naming_where(offline, message, param):
    response = offline.chat(model="prod", messages=[MESSAGES[1], message])
    assert response["statusCode"] == 400
    error = error_of(response)
    assert (error["param"], error["code"]) == (param, "unsupported_parameter")


def test_bedrock_throttling_is_429_with_retry_after(world):
    world.bedrock.add_client_error("converse", "ThrottlingException", "Too many requests", 429)
    response = world.chat(model="prod", messages=MESSAGES)
    assert response["statusCode"] == 429
    assert response["headers"]["retry-after"] == "2"
    error = error_of(response)
    assert (error["type"], error["code"]) == ("rate_limit_error", "rate_limit_exceeded")


def test_bedrock_throttling_passes_the_services_retry_after_on(world):
    world.bedrock.add_client_error(
        "converse",
        "ThrottlingException",
        "slow down",
        429,
        response_meta={"HTTPHeaders": {"retry-after": "7"}},
    )
    response = world.chat(model="prod", messages=MESSAGES)
    assert (response["statusCode"], response["headers"]["retry-after"]) == (429, "7")


class RecordingLogger:
    def __init__(self):
        self.entries: list[tuple[str, dict]] = []

    def info(self, message, extra=None):
        self.entries.append((message, dict(extra or {})))

    warning = exception = info


def test_bedrock_validation_is_400_with_the_services_message_logged_not_echoed(world):
    world.gateway.logger = log = RecordingLogger()
    detail = f"temperature must be <= 1 for arn:aws:bedrock:{REGION}:{ACCOUNT}:custom-model/x"
    world.bedrock.add_client_error("converse", "ValidationException", detail, 400)
    # A temperature Converse's model allows: one above 1 is refused by the model's own limit
    # before the scripted answer (tests/conftest.py), with the same outcome.
    response = world.chat(model="prod", messages=MESSAGES, temperature=0.7)
    assert response["statusCode"] == 400
    error = error_of(response)
    assert error["code"] == "upstream_validation"
    assert "Bedrock" in error["message"] and ACCOUNT not in error["message"]
    refused = [extra for message, extra in log.entries if message == "request refused"]
    assert refused[-1]["request_id"] == "req-1"
    assert detail in refused[-1]["upstream_detail"]


@pytest.mark.parametrize(
    ("code", "status", "error_code"),
    [
        ("AccessDeniedException", 403, "upstream_error"),
        ("InternalServerException", 500, "upstream_error"),
        ("ModelErrorException", 424, "upstream_error"),
        ("ResourceNotFoundException", 404, "upstream_error"),
        ("ModelTimeoutException", 408, "upstream_timeout"),
    ],
)
def test_other_bedrock_errors_are_502_without_the_services_message(world, code, status, error_code):
    world.bedrock.add_client_error("converse", code, f"secret detail arn:aws:iam::{code}", status)
    response = world.chat(model="prod", messages=MESSAGES)
    assert response["statusCode"] == 502
    error = error_of(response)
    assert (error["type"], error["code"]) == ("upstream_error", error_code)
    assert "secret detail" not in error["message"]


@pytest.mark.parametrize(
    ("code", "http_status", "status", "error_type"),
    [
        ("ServiceUnavailableException", 503, 503, "server_error"),
        ("ModelNotReadyException", 429, 429, "rate_limit_error"),
    ],
)
def test_bedrock_unavailable_and_model_not_ready_are_retryable_with_retry_after(
    world, code, http_status, status, error_type
):
    """Converse raises both (botocore's error shapes); the openai SDK retries 429 and 503 itself,
    so neither may surface as a final 502."""
    world.bedrock.add_client_error("converse", code, "try again", http_status)
    response = world.chat(model="prod", messages=MESSAGES)
    assert response["statusCode"] == status
    assert error_of(response)["type"] == error_type
    assert int(response["headers"]["retry-after"]) >= 1


def test_every_converse_error_the_gateway_names_is_one_converse_raises():
    import botocore.session

    from lambda_gateway import converse

    operation = (
        botocore.session.get_session().get_service_model("bedrock-runtime").operation_model("Converse")
    )
    raised = {shape.name for shape in operation.error_shapes}
    named = (
        converse.THROTTLING_CODES
        | converse.UNAVAILABLE_CODES
        | converse.VALIDATION_CODES
        | converse.TIMEOUT_CODES
    )
    assert named <= raised, sorted(named - raised)


def test_mantle_throttling_is_429_with_its_retry_after(world):
    world.mantle.fail_next("/v1/chat/completions", 429, "Rate limit reached", **{"retry-after": "7"})
    response = world.chat(model="canary", messages=MESSAGES)
    assert response["statusCode"] == 429
    assert response["headers"]["retry-after"] == "7"


def test_mantle_throttling_without_retry_after_gets_the_default(world):
    world.mantle.fail_next("/v1/chat/completions", 429, "Rate limit reached")
    response = world.chat(model="canary", messages=MESSAGES)
    assert (response["statusCode"], response["headers"]["retry-after"]) == (429, "2")


def test_mantle_validation_is_400_with_its_message_logged_not_echoed(world):
    world.gateway.logger = log = RecordingLogger()
    world.mantle.fail_next("/v1/chat/completions", 400, f"max_tokens is too large for project {ACCOUNT}")
    response = world.chat(model="canary", messages=MESSAGES)
    assert response["statusCode"] == 400
    assert ACCOUNT not in error_of(response)["message"]
    assert f"max_tokens is too large for project {ACCOUNT}" in log.entries[-1][1]["upstream_detail"]


@pytest.mark.parametrize(("status", "code"), [(500, "upstream_error"), (404, "upstream_model_not_found")])
def test_other_mantle_errors_are_502(world, status, code):
    world.mantle.fail_next("/v1/chat/completions", status, "boom")
    response = world.chat(model="canary", messages=MESSAGES)
    assert response["statusCode"] == 502
    assert error_of(response)["code"] == code


def test_an_unreachable_mantle_is_502(world):
    base_url = world.mantle.base_url
    world.mantle.stop()
    world.registry.put_model(
        world.registry.get_model("math-oss").__class__(
            **{**world.registry.get_model("math-oss").to_dict(), "base_url": base_url}
        )
    )
    response = world.chat(model="canary", messages=MESSAGES)
    assert response["statusCode"] == 502
    assert error_of(response)["code"] == "upstream_unreachable"


def test_an_unknown_route_is_404(offline):
    event = models_event()
    event["routeKey"] = "GET /v1/files"
    response = offline.handle(event)
    assert response["statusCode"] == 404


def test_an_unexpected_failure_is_500_without_details(world, monkeypatch):
    def explode(_model):
        raise RuntimeError("database password is hunter2")

    monkeypatch.setattr(world.gateway.resolver, "resolve", explode)
    response = world.chat(model="prod", messages=MESSAGES)
    assert response["statusCode"] == 500
    error = error_of(response)
    assert "hunter2" not in error["message"]
    assert "req-1" in error["message"]


# --- Models listing ---------------------------------------------------------------------------------


def test_models_lists_callable_models_and_aliases_in_openai_list_format(world):
    response = world.handle(models_event())
    assert response["statusCode"] == 200
    listing = body_of(response)
    assert listing["object"] == "list"
    by_id = {entry["id"]: entry for entry in listing["data"]}
    assert set(by_id) == {"canary", "math-nova", "math-oss", "prod"}  # the undeployed model is left out
    assert by_id["prod"]["rft"] == {
        "kind": "alias",
        "model": "math-nova",
        "provider": "bedrock",
        "base_model": "amazon.nova-2-lite-v1:0:256k",
    }
    assert by_id["math-oss"]["rft"]["kind"] == "model"
    assert by_id["math-nova"]["created"] > 0
    for entry in listing["data"]:
        model = openai.types.Model.model_validate(entry)
        assert (model.object, model.owned_by) == ("model", "rft-stack")


# --- Metrics ----------------------------------------------------------------------------------------


def emf_records(text):
    return [json.loads(line) for line in text.splitlines() if line.startswith('{"_aws"')]


def test_each_chat_request_writes_per_model_latency_and_token_metrics(world, capsys):
    world.bedrock.add_response("converse", converse_response(tokens=(31, 7)))
    world.chat(model="prod", messages=MESSAGES)
    (record,) = emf_records(capsys.readouterr().out)
    (directive,) = record["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == "RftStack/Gateway"
    assert directive["Dimensions"] == [["Model"]]
    assert record["Model"] == "math-nova"
    assert record["PromptTokens"] == [31.0]
    assert record["CompletionTokens"] == [7.0]
    assert record["Requests"] == [1.0]
    assert record["Latency"][0] >= 0
    assert record["Throttles"] == [0.0]


def test_a_throttled_request_counts_as_a_throttle_of_its_model(world, capsys):
    world.bedrock.add_client_error("converse", "ThrottlingException", "slow", 429)
    world.chat(model="prod", messages=MESSAGES)
    (record,) = emf_records(capsys.readouterr().out)
    assert (record["Model"], record["Throttles"], record["UpstreamErrors"]) == ("math-nova", [1.0], [0.0])


# --- The Lambda entry point as deployed --------------------------------------------------------------


def test_the_entry_point_reads_the_environment_named_in_its_settings(world, monkeypatch):
    import lambda_gateway.handler as module

    gateway = build_gateway({"RFT_ENVIRONMENT": ENVIRONMENT, "AWS_REGION": REGION}, session=world.session)
    monkeypatch.setattr(module, "_default", gateway)
    listing = body_of(handler(models_event(), None))
    assert {"prod", "canary"} <= {entry["id"] for entry in listing["data"]}
    other = build_gateway({"RFT_ENVIRONMENT": "prod", "AWS_REGION": REGION}, session=world.session)
    assert body_of(other.handle(models_event()))["data"] == []
