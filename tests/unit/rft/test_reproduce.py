"""rft train reproduce: a recorded run's recipe started in another environment (moto for S3 and SSM,
a botocore Stubber for the target's grader configuration)."""

from __future__ import annotations

import hashlib
import json

import boto3
import pytest
from botocore.stub import Stubber

from rft import names, recipes
from rft.environment import Environment
from rft.records import ModelRecord
from rft.registry import ModelRegistry
from rft.reproduce import ReproduceError, prepare
from tests.unit.rft.helpers import s3_with_buckets

NOVA = "amazon.nova-2-lite-v1:0:256k"
LINES = [
    json.dumps({"messages": [{"role": "user", "content": f"What is {n}+1?"}], "reference_answer": str(n + 1)})
    for n in range(120)
]
BODY = ("\n".join(LINES) + "\n").encode()
SHA = hashlib.sha256(BODY).hexdigest()
CODE = "Zm9vYmFyYmF6"  # base64, as Lambda's CodeSha256
PROD_GRADER = "arn:aws:lambda:us-east-1:123456789012:function:prod-math:live"


def env(name: str, bucket: str) -> Environment:
    target = Environment(
        name=name, region="us-east-1", session=boto3.session.Session(region_name="us-east-1")
    )
    target._outputs[names.DATA_STACK] = {names.DATASETS_BUCKET_OUTPUT: bucket}
    target._outputs[names.REWARDS_STACK] = {names.GRADERS_OUTPUT: f'{{"math_answer": "{PROD_GRADER}"}}'}
    return target


def recorded(staging: Environment, sha256: str = SHA, code: str = CODE) -> None:
    uri = "s3://staging-datasets/gsm8k/train.jsonl"
    recipe = {
        "plane": "bedrock",
        "base_model": NOVA,
        "region": "us-east-1",
        "rft_stack_version": "0.1.0+abc",
        "datasets": {"training_data": {"uri": uri, "sha256": sha256, "lines": 120, "bytes": len(BODY)}},
        "grader": {"name": "math_answer", "arn": "arn:staging", "version": "7", "code_sha256": code},
        "hyperparameters": {
            "epochCount": 2,
            "batchSize": 128,
            "learningRate": 0.0001,
            "trainingSamplePerPrompt": 4,
        },
        "request": {"name": "gsm8k-v1", "base_model": NOVA, "training_data": uri, "reward": "math_answer"},
        "reproduced_from": None,
    }
    ModelRegistry(staging.client("ssm"), "staging").put_model(
        ModelRecord(
            name="gsm8k-v1",
            environment="staging",
            provider="bedrock",
            region="us-east-1",
            model_id="arn:aws:bedrock:us-east-1:123456789012:custom-model-deployment/abc",
            base_model=NOVA,
            reward="math_answer",
            job_id="job",
            recipe=recipe,
        )
    )


def grader_answers(target: Environment, code: str, stubber: Stubber | None = None) -> Stubber:
    """The target grader's configuration, once per call (a client takes one Stubber)."""
    fresh = stubber is None
    stubber = stubber or Stubber(target.client("lambda"))
    stubber.add_response(
        "get_function_configuration",
        {"Version": "3", "CodeSha256": code, "FunctionName": "prod-math"},
        {"FunctionName": PROD_GRADER},
    )
    if fresh:
        stubber.activate()
    return stubber


@pytest.fixture
def two_environments():
    with s3_with_buckets("us-east-1", "staging-datasets", "prod-datasets") as s3:
        s3.put_object(Bucket="staging-datasets", Key="gsm8k/train.jsonl", Body=BODY)
        yield env("staging", "staging-datasets"), env("prod", "prod-datasets")


def test_reproduce_copies_the_data_verifies_it_and_keeps_the_recipe(two_environments):
    staging, prod = two_environments
    recorded(staging)
    stubber = grader_answers(prod, CODE)

    prepared = prepare(staging, prod, "gsm8k-v1", new_name="gsm8k-v1-prod")

    assert prepared.copied == ["s3://prod-datasets/gsm8k/train.jsonl"] and not prepared.grader_changed
    copy = prod.client("s3").get_object(Bucket="prod-datasets", Key="gsm8k/train.jsonl")
    assert copy["Body"].read() == BODY and copy["Metadata"]["sha256"] == SHA
    request = prepared.request.to_dict()
    assert request["name"] == "gsm8k-v1-prod" and request["reproduced_from"] == "staging/gsm8k-v1"
    assert request["training_data"] == "s3://prod-datasets/gsm8k/train.jsonl"
    assert request["hyperparameters"]["epochCount"] == 2 and request["base_model"] == NOVA

    # A second reproduction finds the copy and checks it instead of copying again.
    grader_answers(prod, CODE, stubber)
    again = prepare(staging, prod, "gsm8k-v1", new_name="gsm8k-v1-prod2")
    assert again.copied == [] and again.reused == ["s3://prod-datasets/gsm8k/train.jsonl"]


def test_reproduce_refuses_another_grader_naming_both_hashes(two_environments):
    staging, prod = two_environments
    recorded(staging)
    stubber = grader_answers(prod, "YmF6cXV4")
    with pytest.raises(ReproduceError) as refused:
        prepare(staging, prod, "gsm8k-v1")
    message = str(refused.value)
    assert recipes.code_sha256_hex(CODE) in message and recipes.code_sha256_hex("YmF6cXV4") in message
    assert "--allow-grader-change" in message
    assert "Contents" not in prod.client("s3").list_objects_v2(Bucket="prod-datasets")  # nothing copied

    grader_answers(prod, "YmF6cXV4", stubber)
    allowed = prepare(staging, prod, "gsm8k-v1", allow_grader_change=True)
    assert allowed.grader_changed


def test_reproduce_refuses_data_whose_sha256_changed(two_environments):
    staging, prod = two_environments
    recorded(staging, sha256="0" * 64)
    grader_answers(prod, CODE)
    with pytest.raises(ReproduceError, match="source data changed"):
        prepare(staging, prod, "gsm8k-v1")
    assert "Contents" not in prod.client("s3").list_objects_v2(Bucket="prod-datasets")


def test_reproduce_refuses_a_different_object_already_at_the_key(two_environments):
    staging, prod = two_environments
    recorded(staging)
    prod.client("s3").put_object(Bucket="prod-datasets", Key="gsm8k/train.jsonl", Body=b"other\n")
    grader_answers(prod, CODE)
    with pytest.raises(ReproduceError, match="exists with sha256"):
        prepare(staging, prod, "gsm8k-v1")


def test_reproduce_a_model_without_recipe_or_unknown_says_so(two_environments):
    staging, prod = two_environments
    with pytest.raises(ReproduceError, match="No model named 'nope'"):
        prepare(staging, prod, "nope")


def test_reproduce_digest_counts_lines_and_bytes():
    digest = recipes.digest_chunks([b"a\nb", b"c\n", b"d"])
    assert digest.lines == 3 and digest.bytes == 6
    assert digest.sha256 == hashlib.sha256(b"a\nbc\nd").hexdigest()
