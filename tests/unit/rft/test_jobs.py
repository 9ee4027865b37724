import dataclasses
import json

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber
from moto import mock_aws

from rft import assumptions
from rft.datasets import DEFAULT_LIMITS
from rft.errors import ValidationError
from rft.job_plan import (
    VALIDATION_DATA_LIMITS,
    WorkflowSettings,
    plan_job,
    read_dataset,
    request_token,
    to_boto3_case,
    to_sfn_case,
    validate_request,
)
from rft.jobs import JobRequest, is_valid_name

GRADER = "arn:aws:lambda:us-east-1:123456789012:function:rft-grader-gsm8k:live"
BEDROCK = WorkflowSettings(
    environment="staging",
    region="us-east-1",
    datasets_bucket="staging-datasets",
    artifacts_bucket="staging-artifacts",
    role_arn="arn:aws:iam::123456789012:role/rft-bedrock-service",
    graders={"gsm8k": GRADER, "code": "arn:aws:lambda:us-east-1:123456789012:function:rft-grader-code:live"},
)
# The same environment deployed in a Mantle region, with only the math grader.
MANTLE = dataclasses.replace(
    BEDROCK,
    region="us-west-2",
    graders={"gsm8k": "arn:aws:lambda:us-west-2:123456789012:function:rft-grader-gsm8k:live"},
)


def nova_request(**overrides):
    data = {
        "name": "gsm8k-nova-001",
        "base_model": "amazon.nova-2-lite-v1:0:256k",
        "training_data": "s3://staging-datasets/datasets/train-3f2a.jsonl",
        "reward": "gsm8k",
    }
    data.update(overrides)
    return data


def problems(data, settings=BEDROCK):
    with pytest.raises(ValidationError) as caught:
        validate_request(data, settings)
    return {p.field: p.message for p in caught.value.problems}


def test_a_minimal_request_gets_defaults():
    request = validate_request(nova_request(), BEDROCK)
    assert request.serve is True
    assert request.watch.to_dict() == {
        "first_wait_seconds": 60,
        "max_wait_seconds": 900,
        "time_limit_seconds": 3 * 24 * 3600,
    }
    assert request.hyperparameters.to_dict() == {}
    assert request.model.provider == "bedrock"


def test_round_trip_through_to_dict():
    data = nova_request(
        validation_data="s3://staging-datasets/datasets/val.jsonl",
        hyperparameters={"epochCount": 3},
        serve=False,
        first_wait_seconds=0,
        max_wait_seconds=0,
        time_limit_seconds=0,
        tags={"team": "ml"},
    )
    request = validate_request(data, BEDROCK)
    assert JobRequest.from_dict(request.to_dict()) == request
    assert request.to_dict() == data


@pytest.mark.parametrize(
    ("name", "ok"),
    [
        ("a", True),
        ("gsm8k-nova-001", True),
        ("A1-b2-C3", True),
        ("x" * 63, True),
        ("x" * 64, False),
        ("-lead", False),
        ("trail-", False),
        ("double--hyphen", False),
        ("under_score", False),
        ("dot.name", False),
        ("plus+name", False),
        ("space name", False),
        ("", False),
    ],
)
def test_name_rule(name, ok):
    assert is_valid_name(name) is ok
    if not ok and name:
        assert "name" in problems(nova_request(name=name))


def test_missing_required_fields_are_each_named():
    found = problems({})
    assert {"name", "base_model", "training_data", "reward"} <= set(found)
    assert found["name"] == "is required"


def test_unknown_field():
    found = problems(nova_request(epochs=3))
    assert "unknown field" in found["epochs"]


def test_not_an_object():
    assert problems([1]) == {"": "must be a JSON object"}


def test_base_model_must_be_known_in_the_region():
    assert "Unknown base model" in problems(nova_request(base_model="gpt-5"))["base_model"]
    assert (
        "not offered for RFT in us-east-1"
        in problems(nova_request(base_model="qwen.qwen3-32b"))["base_model"]
    )


@pytest.mark.parametrize(
    ("uri", "fragment"),
    [
        ("https://example.com/train.jsonl", "is not an S3 URI"),
        ("s3://other-bucket/train.jsonl", "datasets bucket (staging-datasets)"),
        ("s3://staging-datasets/", "names a folder"),
        ("s3://staging-datasets/my data.jsonl", "characters Bedrock does not accept"),
    ],
)
def test_data_uris(uri, fragment):
    assert fragment in problems(nova_request(training_data=uri))["training_data"]
    assert fragment in problems(nova_request(validation_data=uri))["validation_data"]


def test_bucket_names_are_checked_without_a_datasets_bucket():
    with pytest.raises(ValidationError, match="'Bad_Bucket' is not a valid S3 bucket name"):
        JobRequest.from_dict(nova_request(training_data="s3://Bad_Bucket/x.jsonl"))


def test_reward_must_be_deployed():
    assert "not a deployed grader (known: code, gsm8k)" in problems(nova_request(reward="math"))["reward"]


def test_hyperparameter_problems_are_named_and_checked_against_the_model():
    found = problems(nova_request(hyperparameters={"batchSize": 8, "epochCount": 2}))
    assert set(found) == {"hyperparameters.batchSize"}
    mantle = nova_request(base_model="openai.gpt-oss-20b", hyperparameters={"reasoningEffort": "low"})
    assert (
        "does not apply to openai.gpt-oss-20b" in problems(mantle, MANTLE)["hyperparameters.reasoningEffort"]
    )


def test_serve_and_watch_settings():
    found = problems(
        nova_request(serve="yes", first_wait_seconds=-1, max_wait_seconds=10**9, time_limit_seconds=1.5)
    )
    assert found["serve"] == "must be true or false, not 'yes'"
    assert "from 0 to 3,600" in found["first_wait_seconds"]
    assert "from 0 to 86,400" in found["max_wait_seconds"]
    assert "time_limit_seconds" in found
    found = problems(nova_request(first_wait_seconds=600, max_wait_seconds=60))
    assert found == {"max_wait_seconds": "must not be less than first_wait_seconds"}


def test_tags():
    found = problems(nova_request(tags={"aws:owner": "x", "ok": "bad|value", "": "x"}))
    assert "reserved" in found["tags.aws:owner"]
    assert "tag value" in found["tags.ok"]
    assert "tag key" in found["tags."]
    assert problems(nova_request(tags=["a"]))["tags"].startswith("must be an object")
    assert "at most 40" in problems(nova_request(tags={f"k{i}": "v" for i in range(41)}))["tags"]


def test_environment_checks_are_skipped_without_settings():
    request = JobRequest.from_dict(nova_request(training_data="s3://any-bucket/x.jsonl", reward="anything"))
    assert request.reward == "anything"


def test_errors_read_as_one_sentence():
    with pytest.raises(ValidationError) as caught:
        validate_request(nova_request(reward="math"), BEDROCK)
    assert str(caught.value).startswith("The job request is invalid: reward: 'math' is not a deployed grader")


# --- plan ------------------------------------------------------------------------------------------


def test_bedrock_plan():
    request = validate_request(
        nova_request(
            hyperparameters={"epochCount": 3, "reasoningEffort": "low"},
            validation_data="s3://staging-datasets/datasets/val.jsonl",
            tags={"team": "ml"},
        ),
        BEDROCK,
    )
    plan = plan_job(request, BEDROCK)
    json.dumps(plan)  # plain JSON
    assert plan["provider"] == "bedrock"
    assert plan["deploy"] is True and plan["mantle"] is None
    assert plan["job_name"] == plan["custom_model_name"] == plan["deployment_name"] == "gsm8k-nova-001"
    assert plan["output_s3_uri"] == "s3://staging-artifacts/jobs/gsm8k-nova-001/output/"
    assert plan["hyperparameters"] == {
        "epochCount": 3,
        "batchSize": 128,
        "learningRate": 1e-4,
        "trainingSamplePerPrompt": 4,
        "reasoningEffort": "low",
    }
    create = plan["bedrock"]["create_job"]
    assert create["CustomizationType"] == "REINFORCEMENT_FINE_TUNING"
    assert create["CustomizationConfig"]["RftConfig"]["GraderConfig"]["LambdaGrader"]["LambdaArn"] == GRADER
    assert create["CustomizationConfig"]["RftConfig"]["HyperParameters"]["EpochCount"] == 3
    assert create["TrainingDataConfig"] == {"S3Uri": "s3://staging-datasets/datasets/train-3f2a.jsonl"}
    assert create["ValidationDataConfig"] == {
        "Validators": [{"S3Uri": "s3://staging-datasets/datasets/val.jsonl"}]
    }
    assert create["ClientRequestToken"] == plan["client_request_token"]
    assert {"Key": "team", "Value": "ml"} in create["JobTags"]
    assert {"Key": "rft:environment", "Value": "staging"} in create["CustomModelTags"]
    assert {"Key": "project", "Value": "rft-stack"} in create["CustomModelTags"]
    assert {"Key": "project", "Value": "rft-stack"} in create["JobTags"]
    deployment = plan["bedrock"]["create_deployment"]
    assert deployment["ModelDeploymentName"] == "gsm8k-nova-001"
    assert deployment["ClientRequestToken"] != plan["client_request_token"]
    assert "CustomModelKmsKeyId" not in create


def test_bedrock_parameters_pass_botocore_validation_and_moto():
    settings = WorkflowSettings(**{**BEDROCK.__dict__, "custom_model_kms_key_id": "alias/rft-data"})
    plan = plan_job(validate_request(nova_request(hyperparameters={"evalInterval": 5}), settings), settings)
    with mock_aws():
        bedrock = boto3.client("bedrock", region_name="us-east-1")
        response = bedrock.create_model_customization_job(**to_boto3_case(plan["bedrock"]["create_job"]))
        assert response["jobArn"].endswith("gsm8k-nova-001")


def test_serve_false_means_no_deployment():
    plan = plan_job(validate_request(nova_request(serve=False), BEDROCK), BEDROCK)
    assert plan["serve"] is False and plan["deploy"] is False


def test_mantle_plan():
    request = validate_request(
        nova_request(
            name="gsm8k-oss-001",
            base_model="openai.gpt-oss-20b",
            hyperparameters={"epochCount": 2, "learningRate": 5e-5},
        ),
        MANTLE,
    )
    plan = plan_job(request, MANTLE)
    assert plan["provider"] == "mantle" and plan["bedrock"] is None
    assert plan["deploy"] is False
    assert plan["hyperparameters"] == {"epochCount": 2, "learningRate": 5e-5}  # no Bedrock defaults
    mantle = plan["mantle"]
    assert mantle["base_url"] == "https://bedrock-mantle.us-west-2.api.aws/v1"
    assert mantle["model"] == "openai.gpt-oss-20b"
    assert mantle["hyperparameters"] == {"n_epochs": 2, "learning_rate_multiplier": 0.5}
    assert mantle["grader_arn"] == MANTLE.graders["gsm8k"]
    assert mantle["request_token"] == plan["client_request_token"]
    assert mantle["start_record"].startswith("s3://staging-artifacts/")
    assert mantle["start_record"].endswith(f"/gsm8k-oss-001/mantle-start-{plan['client_request_token']}.json")
    # Unconfirmed on Mantle (rft.assumptions): not planned, so never sent.
    assert "suffix" not in mantle and "metadata" not in mantle


def test_confirmed_mantle_extras_are_planned(monkeypatch):
    monkeypatch.setattr(assumptions, "MANTLE_JOB_SUFFIX_SUPPORTED", True)
    monkeypatch.setattr(assumptions, "MANTLE_JOB_METADATA_SUPPORTED", True)
    request = validate_request(
        nova_request(name="gsm8k-oss-001", base_model="openai.gpt-oss-20b", hyperparameters={}), MANTLE
    )
    mantle = plan_job(request, MANTLE)["mantle"]
    assert mantle["suffix"] == "gsm8k-oss-001"
    assert mantle["metadata"]["rft_request_token"] == mantle["request_token"]


def test_validation_data_for_a_mantle_model_is_refused_while_unconfirmed(monkeypatch):
    data = nova_request(
        name="gsm8k-oss-001",
        base_model="openai.gpt-oss-20b",
        hyperparameters={},
        validation_data="s3://staging-datasets/datasets/val.jsonl",
    )
    with pytest.raises(ValidationError) as caught:
        validate_request(data, MANTLE)
    assert [p.field for p in caught.value.problems] == ["validation_data"]
    assert "MANTLE_VALIDATION_FILE_SUPPORTED" in str(caught.value)
    monkeypatch.setattr(assumptions, "MANTLE_VALIDATION_FILE_SUPPORTED", True)
    assert validate_request(data, MANTLE).validation_data == data["validation_data"]


def test_the_token_is_deterministic_and_follows_the_request():
    request = validate_request(nova_request(), BEDROCK)
    again = validate_request(nova_request(), BEDROCK)
    assert request_token(request, "staging") == request_token(again, "staging")
    assert plan_job(request, BEDROCK) == plan_job(again, BEDROCK)
    changed = validate_request(nova_request(hyperparameters={"epochCount": 4}), BEDROCK)
    assert request_token(changed, "staging") != request_token(request, "staging")
    assert request_token(request, "prod") != request_token(request, "staging")
    import re

    assert re.fullmatch(r"[a-zA-Z0-9]([-a-zA-Z0-9]{0,254}[a-zA-Z0-9])?", request_token(request, "staging"))


def test_case_conversion_round_trip():
    value = {
        "customizationConfig": {"rftConfig": {"hyperParameters": {"epochCount": 1}}},
        "jobTags": [{"key": "a"}],
    }
    assert to_sfn_case(value) == {
        "CustomizationConfig": {"RftConfig": {"HyperParameters": {"EpochCount": 1}}},
        "JobTags": [{"Key": "a"}],
    }
    assert to_boto3_case(to_sfn_case(value)) == value


# --- reading a request's datasets (the validate step's rule) ----------------------------------------


@pytest.fixture
def s3():
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket="staging-datasets")
        yield client


def test_read_dataset_streams_both_datasets_under_their_own_limits(s3):
    from tests.unit.rft.helpers import jsonl, record

    s3.put_object(
        Bucket="staging-datasets", Key="datasets/train-3f2a.jsonl", Body=jsonl(record(i) for i in range(100))
    )
    s3.put_object(
        Bucket="staging-datasets", Key="datasets/val.jsonl", Body=jsonl(record(i) for i in range(5))
    )
    request = nova_request(validation_data="s3://staging-datasets/datasets/val.jsonl")
    training = read_dataset(s3, "training_data", request["training_data"], DEFAULT_LIMITS)
    validation = read_dataset(s3, "validation_data", request["validation_data"], VALIDATION_DATA_LIMITS)
    assert (training.ok, training.prompts) == (True, 100)
    # Five prompts are too few to train on but enough to validate with.
    assert (validation.ok, validation.prompts) == (True, 5)
    assert not read_dataset(s3, "training_data", request["validation_data"], DEFAULT_LIMITS).ok


def test_read_dataset_reports_problems_with_line_numbers(s3):
    from tests.unit.rft.helpers import jsonl, record

    body = jsonl(record(i) for i in range(100)) + b"{broken\n" + jsonl([record(0, reference_answer=None)])
    s3.put_object(Bucket="staging-datasets", Key="datasets/train-3f2a.jsonl", Body=body)
    report = read_dataset(s3, "training_data", nova_request()["training_data"], DEFAULT_LIMITS)
    assert not report.ok
    assert [(p.line, p.field) for p in report.problems] == [(101, ""), (102, "reference_answer")]


def test_read_dataset_names_a_missing_dataset_by_its_field(s3):
    with pytest.raises(ValidationError) as caught:
        read_dataset(s3, "training_data", nova_request()["training_data"], DEFAULT_LIMITS)
    assert caught.value.problems[0].field == "training_data"
    assert "does not exist" in caught.value.problems[0].message


@pytest.mark.parametrize(
    ("code", "says"),
    [
        ("NoSuchKey", "does not exist"),
        ("KMS.AccessDeniedException", "cannot be read by the workflow (KMS.AccessDeniedException)"),
        ("InvalidObjectState", "is in an archive storage class"),
    ],
)
def test_an_unreadable_dataset_is_a_problem_naming_its_field(code, says):
    """The one reading rule of the workflow's validate step."""
    client = boto3.client("s3", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="y")
    with Stubber(client) as stubber:
        stubber.add_client_error("get_object", service_error_code=code, http_status_code=403)
        with pytest.raises(ValidationError) as caught:
            read_dataset(client, "validation_data", "s3://staging-datasets/v.jsonl", VALIDATION_DATA_LIMITS)
    [problem] = caught.value.problems
    assert problem.field == "validation_data" and says in problem.message


def test_a_throttled_dataset_read_is_left_to_the_steps_retry():
    client = boto3.client("s3", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="y")
    with Stubber(client) as stubber:
        stubber.add_client_error("get_object", service_error_code="SlowDown", http_status_code=503)
        with pytest.raises(ClientError):
            read_dataset(client, "training_data", "s3://staging-datasets/t.jsonl", VALIDATION_DATA_LIMITS)


def test_the_samples_qwen_spelling_is_accepted_and_planned_under_the_catalog_id():
    request = validate_request(
        nova_request(name="qwen-1", base_model="qwen.qwen3-32b-v1:0", hyperparameters={}), MANTLE
    )
    assert request.base_model == "qwen.qwen3-32b"
    assert plan_job(request, MANTLE)["mantle"]["model"] == "qwen.qwen3-32b"
