"""Runs that end badly: each one takes the failure path, says why, notifies, and leaves no record."""

from __future__ import annotations

import json

import pytest

from tests.workflow.conftest import GPT_OSS, NOVA, job_request, on_mantle_status, upload
from tests.workflow.offline import FakeBedrock, dataset_lines

FAILURE_TAIL = ["Notify failure", "Failed"]


def bedrock_run(workflow, name: str, bedrock: FakeBedrock, **request):
    """(harness, result) of a Nova run `name` on 120 good lines, Bedrock scripted by `bedrock`."""
    harness = workflow("bedrock", bedrock=bedrock)
    uri = upload(harness, "train.jsonl", dataset_lines(120))
    return harness, harness.run(job_request(name, NOVA, uri, **request))


def assert_failed(harness, result, error: str, *, step: str, cause_has: str) -> dict:
    """The run failed with `error` in `step`, saying `cause_has`, mailed it, and recorded no model."""
    name = result.arn.rsplit(":", 1)[-1]  # the execution's name, which the run's name must be
    assert result.status == "FAILED"
    assert result.error == error
    assert cause_has in (result.cause or "")
    assert result.path[-2:] == FAILURE_TAIL
    (mail,) = harness.notifications()
    assert mail["subject"] == f"RFT run {name} failed"
    assert f"failed in step {step}" in mail["message"] and cause_has in mail["message"]
    parameters = harness.client("ssm").get_parameters_by_path(Path="/rft/staging/models/")["Parameters"]
    assert parameters == []
    return mail


def test_a_failed_bedrock_job_ends_with_the_service_message(workflow):
    fake = FakeBedrock(job_statuses=["InProgress", "Failed"], failure_message="Grader Lambda returned NaN.")
    harness, result = bedrock_run(workflow, "nova-fails", fake)

    assert_failed(harness, result, "TrainingFailed", step="Watch", cause_has="Grader Lambda returned NaN.")
    assert "Bedrock job failed" in result.path and "Create deployment" not in result.path


def test_a_failed_bedrock_job_without_a_message_still_says_which_job(workflow):
    fake = FakeBedrock(job_statuses=["Failed"], failure_message=None)
    harness, result = bedrock_run(workflow, "nova-fails-quietly", fake)

    job_arn = harness.bedrock_job("nova-fails-quietly").job_arn
    assert_failed(harness, result, "TrainingFailed", step="Watch", cause_has=job_arn)
    assert "Bedrock job failed without a message" in result.path


def test_a_stopped_bedrock_job_ends_the_run(workflow):
    fake = FakeBedrock(job_statuses=["InProgress", "Stopping", "Stopped"])
    harness, result = bedrock_run(workflow, "nova-stopped", fake)

    assert_failed(harness, result, "TrainingStopped", step="Watch", cause_has="was stopped")
    assert result.path.count("Get Bedrock job") == 3


def test_the_time_limit_stops_the_bedrock_job(workflow):
    fake = FakeBedrock(job_statuses=["InProgress"])
    harness, result = bedrock_run(workflow, "nova-too-slow", fake, time_limit_seconds=0)

    assert_failed(harness, result, "TimeLimitExceeded", step="Watch", cause_has="time limit of 0")
    assert result.path[-5:-2] == ["Bedrock job status?", "Stop Bedrock job", "Time limit reached"]
    assert harness.bedrock_job("nova-too-slow").status == "Stopped"
    (stop,) = harness.sdk_calls_to("stopModelCustomizationJob")
    assert stop["jobIdentifier"] == harness.bedrock_job("nova-too-slow").job_arn


def test_a_failed_deployment_fails_the_run_and_keeps_the_trained_model(workflow):
    fake = FakeBedrock(job_statuses=["Completed"], deployment_statuses=["Creating", "Failed"])
    harness, result = bedrock_run(workflow, "nova-no-capacity", fake)

    capacity = "Insufficient capacity for the custom model deployment."
    assert_failed(harness, result, "DeploymentFailed", step="Serve", cause_has=capacity)
    assert result.path[-5:-2] == [
        "Deployment status?",
        "Deployment failed: message given?",
        "Deployment failed",
    ]
    assert harness.bedrock_job("nova-no-capacity").status == "Completed"


def test_a_bad_dataset_stops_the_run_before_anything_is_started(workflow):
    harness = workflow("bedrock")
    lines = dataset_lines(120)
    lines[2] = '{"messages": [{"role": "user", "content": "hi"}]}'  # line 3: no reference_answer
    lines[6] = "{not json"  # line 7
    uri = upload(harness, "bad.jsonl", lines)

    result = harness.run(job_request("nova-bad-data", NOVA, uri))

    mail = assert_failed(
        harness, result, "DatasetInvalid", step="Validate", cause_has="line 3: reference_answer"
    )
    assert "line 7: not valid JSON" in mail["message"]
    assert result.path == ["Validate request", "Request valid?", "Request rejected", *FAILURE_TAIL]
    assert harness.sdk_calls == []
    assert harness.client("bedrock").list_model_customization_jobs()["modelCustomizationJobSummaries"] == []


def test_a_dataset_that_does_not_exist_is_named(workflow):
    harness = workflow("bedrock")
    bucket = harness.bucket("staging-Data", "DatasetsBucket")

    result = harness.run(job_request("nova-no-data", NOVA, f"s3://{bucket}/missing.jsonl"))

    assert_failed(harness, result, "DatasetUnreadable", step="Validate", cause_has="does not exist")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"hyperparameters": {"epochCount": 500}}, "hyperparameters.epochCount"),
        ({"reward": "no_such_grader"}, "reward"),
        ({"base_model": GPT_OSS}, "base_model"),  # not enabled (nor offered) in this environment
        ({"training_data": "s3://someone-elses-bucket/train.jsonl"}, "training_data"),
    ],
)
def test_a_bad_request_is_refused_naming_the_field(workflow, change, field):
    harness = workflow("bedrock")
    uri = upload(harness, "train.jsonl", dataset_lines(120))

    result = harness.run({**job_request("nova-bad-request", NOVA, uri), **change})

    assert_failed(harness, result, "RequestInvalid", step="Validate", cause_has=field)
    assert harness.sdk_calls == []


def test_the_run_name_must_be_the_execution_name(workflow):
    harness = workflow("bedrock")
    uri = upload(harness, "train.jsonl", dataset_lines(120))

    result = harness.run(job_request("nova-a", NOVA, uri), name="nova-b")

    assert result.status == "FAILED" and result.error == "RequestInvalid"
    assert "must also be the execution name" in result.cause


def test_an_error_raised_by_a_step_is_caught_notified_and_named(workflow):
    harness = workflow("bedrock", bedrock=FakeBedrock(job_statuses=["Completed"]))
    uri = upload(harness, "train.jsonl", dataset_lines(120))
    harness.before_invoke = _fail_publish

    result = harness.run(job_request("nova-publish-breaks", NOVA, uri, serve=False))

    assert result.status == "FAILED" and result.error == "Publish.RuntimeError"
    assert json.loads(result.cause)["Error"] == "RuntimeError"
    assert result.path[-4:] == ["Publish model record", "Publish step failed", *FAILURE_TAIL]
    (mail,) = harness.notifications()
    assert "failed in step Publish" in mail["message"] and "SSM is down" in mail["message"]


def _fail_publish(logical_id: str, event: dict) -> None:
    if logical_id.startswith("Publish"):
        raise RuntimeError("SSM is down")


def test_a_failed_mantle_job_ends_with_its_error(mantle_harness, mantle_server):
    harness = mantle_harness
    uri = upload(harness, "train.jsonl", dataset_lines(120))

    def fail_job(event: dict, look: int) -> None:
        mantle_server.set_job(event["job_id"], status="failed", error={"message": "Grader timed out."})

    harness.before_invoke = on_mantle_status(fail_job)
    result = harness.run(job_request("oss-fails", GPT_OSS, uri))

    assert_failed(harness, result, "TrainingFailed", step="Watch", cause_has="Grader timed out.")


def test_the_time_limit_cancels_the_mantle_job(mantle_harness, mantle_server):
    harness = mantle_harness
    uri = upload(harness, "train.jsonl", dataset_lines(120))

    result = harness.run(job_request("oss-too-slow", GPT_OSS, uri, time_limit_seconds=0))

    assert_failed(harness, result, "TimeLimitExceeded", step="Watch", cause_has="time limit of 0")
    assert result.path[-4:] == ["Cancel Mantle job", "Time limit reached", *FAILURE_TAIL]
    (job,) = mantle_server.jobs.values()
    assert job["status"] == "cancelled"
