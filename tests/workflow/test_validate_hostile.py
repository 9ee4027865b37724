"""The validate step against hostile requests: every bad request is an answer with its problems
(never a Lambda error), and every answer is bounded well under Step Functions' 256 KiB result
limit, since States.DataLimitExceeded is a terminal error that a Catch on States.ALL does not catch
(docs.aws.amazon.com/step-functions/latest/dg/concepts-error-handling.html)."""

import json
from typing import Any

import boto3
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from moto import mock_aws

from lambda_workflow import common, validate
from lambda_workflow.validate import MAX_ANSWER_BYTES
from rft import jobs

BUCKET = "staging-datasets"
NOVA = "amazon.nova-2-lite-v1:0:256k"
STEP_FUNCTIONS_RESULT_LIMIT = 256 * 1024


@pytest.fixture
def environment(monkeypatch):
    for name, value in {
        "AWS_REGION": "us-east-1",
        "ENVIRONMENT": "staging",
        "DATASETS_BUCKET": BUCKET,
        "ARTIFACTS_BUCKET": "staging-artifacts",
        "BEDROCK_ROLE_ARN": "arn:aws:iam::123456789012:role/rft-bedrock",
        "GRADERS": json.dumps({"gsm8k": "arn:aws:lambda:us-east-1:123456789012:function:g:live"}),
    }.items():
        monkeypatch.setenv(name, value)
    common._client.cache_clear()
    with mock_aws():
        boto3.client("s3", region_name="us-east-1").create_bucket(Bucket=BUCKET)
        yield boto3.client("s3", region_name="us-east-1")
    common._client.cache_clear()


def request(**overrides: Any) -> dict[str, Any]:
    data = {
        "name": "run-1",
        "base_model": NOVA,
        "training_data": f"s3://{BUCKET}/train.jsonl",
        "reward": "gsm8k",
    }
    data.update(overrides)
    return data


def answer(data: Any) -> dict[str, Any]:
    result = validate.handler({"request": data, "execution_name": None})
    assert len(json.dumps(result).encode()) <= MAX_ANSWER_BYTES
    return result


@pytest.mark.parametrize(
    ("uri", "fragment"),
    [
        ("s3://", "has no bucket name"),
        ("s3:///key.jsonl", "has no bucket name"),
        (f"s3://{BUCKET}/" + "k" * 1100, "Bedrock accepts S3 URIs of at most 1,024"),
        (["s3://x/y"], "a list is not an S3 URI"),
    ],
)
def test_a_uri_without_a_bucket_or_too_long_is_an_answer(environment, uri, fragment):
    result = answer(request(training_data=uri))
    assert result["valid"] is False and result["error"] == "RequestInvalid"
    assert fragment in result["cause"]


def test_the_request_is_checked_before_any_dataset_is_read(environment):
    """train.jsonl does not exist: a request that breaks a rule is refused for the rule, unread."""
    result = answer(request(reward="nope"))
    assert (result["error"], [p["field"] for p in result["problems"]]) == ("RequestInvalid", ["reward"])


def test_a_dataset_in_an_archive_storage_class_is_an_answer(environment):
    line = json.dumps({"messages": [{"role": "user", "content": "q"}], "reference_answer": 1})
    environment.put_object(Bucket=BUCKET, Key="cold.jsonl", Body=(line + "\n") * 100, StorageClass="GLACIER")
    result = answer(request(training_data=f"s3://{BUCKET}/cold.jsonl"))
    assert result["error"] == "DatasetUnreadable"
    assert "archive storage class" in result["cause"]


@pytest.mark.parametrize(
    "hostile",
    [
        {"name": "n" * 200_000},
        {"x" * 200_000: 1},
        {**{f"k{i}" * 500: i for i in range(200)}},
        {"base_model": [[[[]]]] * 1000},
        {"reward": "r" * 300_000},
        {"tags": {f"t{i}" * 100: "v" * 300 for i in range(5000)}},
        {"hyperparameters": {"h" * 100_000: 1, "epochCount": "x" * 100_000}},
        {"serve": "s" * 100_000},
    ],
)
def test_huge_values_give_a_bounded_answer(environment, hostile):
    result = answer(request(**hostile))
    assert result["valid"] is False
    assert len(json.dumps(result)) < 16 * 1024


def test_a_dataset_of_huge_hostile_lines_gives_a_bounded_answer(environment):
    role = "r" * 120_000
    line = json.dumps({"messages": [{"role": role, "content": "q", "x" * 5000: 1}], "reference_answer": 1})
    environment.put_object(Bucket=BUCKET, Key="bad.jsonl", Body=(line + "\n") * 150)
    result = answer(request(training_data=f"s3://{BUCKET}/bad.jsonl"))
    assert result["error"] == "DatasetInvalid"
    assert result["total"] > 150


def test_the_bound_is_far_below_the_step_functions_limit():
    assert MAX_ANSWER_BYTES * 4 <= STEP_FUNCTIONS_RESULT_LIMIT


_JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=50),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.dictionaries(st.sampled_from([*jobs.FIELDS, "other"]), _JSONISH, max_size=8))
def test_any_request_shape_is_an_answer_not_an_exception(environment, fields):
    data = request(**fields)
    try:
        result = answer(data)
    except Exception as exc:  # a dataset that does not exist is read; anything else is a bug
        pytest.fail(f"{type(exc).__name__}: {exc} for {data!r}")
    assert result["valid"] is False or "plan" in result


@pytest.mark.parametrize(
    ("tags", "fragment"),
    [
        ({"project": "mine"}, "'project' is set by rft-stack on every run"),
        ({"Environment": "prod"}, "'Environment' is set by rft-stack on every run"),
        ({"team": "ml\nops"}, "a tag value is a string"),
        ({"team": "ml\u00a0ops"}, "a tag value is a string"),
        ({"team\u2003x": "ops"}, "a tag key has"),
    ],
)
def test_reserved_tags_and_tags_with_line_breaks_or_unicode_spaces_are_refused(environment, tags, fragment):
    result = answer(request(tags=tags))
    assert result["error"] == "RequestInvalid"
    assert fragment in result["cause"]


@pytest.mark.parametrize(
    ("hyperparameters", "fragment"),
    [
        ({"maxPromptLength": 10**7}, "out of range"),
        ({"inferenceMaxTokens": 262_145}, "out of range"),
    ],
)
def test_nova_token_limits_have_an_upper_bound(environment, hyperparameters, fragment):
    result = answer(request(hyperparameters=hyperparameters))
    assert fragment in result["cause"]


def test_a_run_named_like_an_alias_is_refused(environment):
    ssm = boto3.client("ssm", region_name="us-east-1")
    ssm.put_parameter(Name="/rft/staging/aliases/prod", Value='{"model": "m1"}', Type="String")
    result = answer(request(name="prod"))
    assert result["valid"] is False
    assert "'prod' is an alias in this environment" in result["cause"]
    # another environment's alias of that name is no obstacle, nor is a name no alias has
    ssm.put_parameter(Name="/rft/prod/aliases/run-1", Value='{"model": "m1"}', Type="String")
    assert "is an alias" not in json.dumps(answer(request(name="run-1")))
