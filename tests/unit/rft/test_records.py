import json

import pytest

from rft.errors import RecordTooLargeError, RftError
from rft.job_plan import WorkflowSettings, plan_job, validate_request
from rft.records import (
    MAX_PARAMETER_BYTES,
    STATUS_READY,
    STATUS_TRAINED,
    EvaluationSummary,
    ModelRecord,
    alias_parameter_name,
    evaluation_parameter_name,
    model_parameter_name,
    record_from_run,
)

DEPLOYMENT = "arn:aws:bedrock:us-east-1:123456789012:custom-model-deployment/abcdefghijkl"


def make_record(**overrides) -> ModelRecord:
    values = {
        "name": "gsm8k-nova-001",
        "environment": "staging",
        "provider": "bedrock",
        "region": "us-east-1",
        "model_id": DEPLOYMENT,
        "base_model": "amazon.nova-2-lite-v1:0:256k",
        "reward": "gsm8k",
        "job_id": "arn:aws:bedrock:us-east-1:123456789012:model-customization-job/"
        "amazon.nova-2-lite-v1:0:256k/abcdefghijkl",
        "deployment_arn": DEPLOYMENT,
        "hyperparameters": {"epochCount": 3},
        "metrics": {"reward_last": 0.9},
        "started_at": "2026-11-20T10:00:00Z",
        "completed_at": "2026-11-20T18:00:00Z",
        "published_at": "2026-11-20T18:20:00Z",
    }
    values.update(overrides)
    return ModelRecord(**values)


def test_round_trip():
    record = make_record()
    text = record.to_json()
    assert json.loads(text)["schema_version"] == 1
    assert ModelRecord.from_json(text) == record
    assert record.callable


def test_unknown_fields_are_ignored_and_newer_schemas_refused():
    data = make_record().to_dict()
    data["added_later"] = 1
    assert ModelRecord.from_dict(data) == make_record()
    data["schema_version"] = 2
    with pytest.raises(RftError, match="schema version 2; this rft reads up to 1: upgrade rft"):
        ModelRecord.from_dict(data)


def test_missing_fields_and_bad_json_are_clear():
    with pytest.raises(RftError, match=r"lacks required fields: .*job_id"):
        ModelRecord.from_dict({k: v for k, v in make_record().to_dict().items() if k != "job_id"})
    with pytest.raises(RftError, match="not valid JSON"):
        ModelRecord.from_json("{")
    with pytest.raises(RftError, match="not a JSON object"):
        ModelRecord.from_json("[]")


def test_a_small_record_is_kept_as_is():
    record = make_record()
    assert record.fit_to_parameter() is record


def test_a_long_series_is_thinned_to_fit_keeping_the_ends():
    series = [[step, 0.5 + step / 10000] for step in range(1, 1001)]
    record = make_record(metrics={"reward_last": 0.6, "series": {"critic_rewards_mean": series}})
    assert len(record.to_json()) > MAX_PARAMETER_BYTES
    fitted = record.fit_to_parameter()
    assert len(fitted.to_json().encode()) <= MAX_PARAMETER_BYTES
    kept = fitted.metrics["series"]["critic_rewards_mean"]
    assert 2 < len(kept) < 1000
    assert kept[0] == series[0] and kept[-1] == series[-1]
    assert fitted.metrics["trimmed"] == "series thinned"
    assert fitted.metrics["reward_last"] == 0.6


def test_large_scalar_metrics_are_dropped_when_nothing_else_helps():
    record = make_record(metrics={f"metric_{i}": 0.123456789 for i in range(600)})
    fitted = record.fit_to_parameter()
    assert fitted.metrics == {"trimmed": "summary dropped"}


def test_a_record_too_large_without_metrics_is_an_error():
    record = make_record(hyperparameters={"x": "y" * 9000})
    with pytest.raises(RecordTooLargeError, match="without metrics"):
        record.fit_to_parameter()


def test_parameter_names():
    assert model_parameter_name("staging", "m-1") == "/rft/staging/models/m-1"
    assert alias_parameter_name("prod", "live") == "/rft/prod/aliases/live"
    assert evaluation_parameter_name("prod", "m-1") == "/rft/prod/evaluations/m-1"
    with pytest.raises(RftError, match="not a valid alias"):
        alias_parameter_name("prod", "a/b")
    with pytest.raises(RftError, match="not a valid environment"):
        model_parameter_name("../x", "m")


def test_record_from_a_bedrock_and_a_mantle_run():
    graders = {"gsm8k": "arn:aws:lambda:us-east-1:123456789012:function:g:live"}
    settings = WorkflowSettings(
        "staging", "us-east-1", "data-sets", "art", "arn:aws:iam::123456789012:role/r", graders
    )
    request = {
        "name": "n1",
        "base_model": "amazon.nova-2-lite-v1:0:256k",
        "training_data": "s3://data-sets/t.jsonl",
        "reward": "gsm8k",
    }
    plan = plan_job(validate_request(request, settings), settings)
    served = record_from_run(plan, job_id="job-arn", model_id=DEPLOYMENT, deployment_arn=DEPLOYMENT)
    assert served.status == STATUS_READY and served.base_url is None
    assert served.hyperparameters["batchSize"] == 128
    unserved = record_from_run(
        plan, job_id="job-arn", model_id="custom-model-arn", custom_model_arn="custom-model-arn"
    )
    assert unserved.status == STATUS_TRAINED and not unserved.callable

    west = WorkflowSettings(
        "staging", "us-west-2", "data-sets", "art", "arn:aws:iam::123456789012:role/r", graders
    )
    plan = plan_job(validate_request({**request, "base_model": "qwen.qwen3-32b"}, west), west)
    mantle = record_from_run(
        plan, job_id="ftjob-1", model_id="qwen.qwen3-32b:ft:n1", metrics={"reward_last": 0.8}
    )
    assert mantle.status == STATUS_READY
    assert mantle.base_url == "https://bedrock-mantle.us-west-2.api.aws/v1"
    assert mantle.published_at


def test_evaluation_summary_round_trip():
    summary = EvaluationSummary(
        name="m1",
        reward="gsm8k",
        mean_reward=0.81,
        samples=200,
        dataset="s3://data-sets/test.jsonl",
        ci95=(0.02, 0.08),
    )
    assert EvaluationSummary.from_json(summary.to_json()) == summary
    assert json.loads(summary.to_json())["ci95"] == [0.02, 0.08]
