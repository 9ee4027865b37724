"""The fake Mantle takes only what an AWS source shows Mantle taking, and refuses the rest the way
the OpenAI-compatible API does: HTTP 400, `invalid_request_error`, the parameter named."""

from __future__ import annotations

import openai
import pytest

from tests.fakes.openai_server import (
    CHAT_FIELDS,
    FILE_FIELDS,
    LIST_QUERY,
    MANTLE_JOB_FIELD_SOURCES,
    FakeOpenAIServer,
)

MESSAGES = [{"role": "user", "content": "2+2?"}]


@pytest.fixture(scope="module")
def server():
    with FakeOpenAIServer() as fake:
        yield fake


@pytest.fixture
def client(server):
    return openai.OpenAI(base_url=server.base_url, api_key="test", max_retries=0)


def refused(call) -> dict:
    with pytest.raises(openai.BadRequestError) as caught:
        call()
    assert caught.value.status_code == 400
    return caught.value.body  # the SDK hands over the `error` object


@pytest.mark.parametrize(
    "extra",
    [
        {"top_k": 20},  # a vLLM sampling extra, not in any AWS source
        {"repetition_penalty": 1.1},
        {"chat_template_kwargs": {"enable_thinking": False}},
        {"reasoning": {"effort": "low"}},  # the Responses API's field, not Chat Completions'
        {"tools": []},
        {"seed": 7},
    ],
)
def test_a_chat_completion_with_a_field_no_source_shows_is_refused_naming_it(client, extra):
    (name,) = extra
    error = refused(
        lambda: client.chat.completions.create(
            model="openai.gpt-oss-20b", messages=MESSAGES, extra_body=extra
        )
    )
    assert error == {
        "message": f"Unrecognized request argument supplied: {name}",
        "type": "invalid_request_error",
        "param": name,
        "code": None,
    }


def test_every_field_a_client_here_sends_to_chat_completions_is_accepted(client):
    answer = client.chat.completions.create(
        model="openai.gpt-oss-20b",
        messages=MESSAGES,
        max_tokens=50,
        temperature=0.2,
        top_p=0.9,
        n=2,
        stop=["\n\n"],
    )
    assert len(answer.choices) == 2
    client.chat.completions.create(model="openai.gpt-oss-20b", messages=MESSAGES, max_completion_tokens=50)
    stream = client.chat.completions.create(
        model="openai.gpt-oss-20b", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
    )
    assert any(chunk.usage for chunk in stream)


def test_query_parameters_are_held_to_each_route(client, server):
    server.add_job("ftjob-q")
    assert client.fine_tuning.jobs.list(limit=5).data
    assert client.fine_tuning.jobs.list_events("ftjob-q", limit=5) is not None
    for call, name in (
        (lambda: client.models.list(extra_query={"owned_by": "x"}), "owned_by"),
        (lambda: client.fine_tuning.jobs.retrieve("ftjob-q", extra_query={"limit": 1}), "limit"),
        (lambda: client.fine_tuning.jobs.list(extra_query={"metadata[run]": "x"}), "metadata[run]"),
        (
            lambda: client.chat.completions.create(
                model="openai.gpt-oss-20b", messages=MESSAGES, extra_query={"api-version": "1"}
            ),
            "api-version",
        ),
    ):
        assert refused(call)["param"] == name


def test_a_cancel_takes_no_body(client, server):
    server.add_job("ftjob-c", status="running")
    assert (
        refused(lambda: client.fine_tuning.jobs.cancel("ftjob-c", extra_body={"reason": "x"}))["param"]
        == "reason"
    )


def test_every_accepted_name_says_where_it_comes_from():
    for table in (CHAT_FIELDS, FILE_FIELDS, LIST_QUERY, MANTLE_JOB_FIELD_SOURCES):
        assert table and all(isinstance(source, str) and source.strip() for source in table.values())
