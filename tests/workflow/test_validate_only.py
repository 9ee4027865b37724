"""A request with `validate_only: true` (what `rft doctor` sends): the whole Validate step runs,
then the run succeeds before anything starts, on either plane, and a bad request still fails."""

from __future__ import annotations

import json

from tests.workflow.conftest import GPT_OSS, NOVA, job_request, upload
from tests.workflow.offline import dataset_lines


def test_doctor_validate_only_bedrock_request_succeeds_after_validate_and_starts_nothing(workflow):
    harness = workflow("bedrock")
    uri = upload(harness, "doctor/canary.jsonl", dataset_lines(120))

    result = harness.run(job_request("doctor-canary-1", NOVA, uri, validate_only=True))

    assert result.status == "SUCCEEDED", result.cause
    assert result.path == ["Validate request", "Request valid?", "Validate only?", "Validated only"]
    assert result.output["valid"] is True and result.output["plan"]["validate_only"] is True
    assert result.output["dataset"]["training_data"]["prompts"] == 120
    assert harness.sdk_calls == []
    assert harness.client("bedrock").list_model_customization_jobs()["modelCustomizationJobSummaries"] == []
    assert harness.notifications() == []  # nothing to announce: no mail for a canary
    models = harness.client("ssm").get_parameters_by_path(Path="/rft/staging/models")["Parameters"]
    assert models == []


def test_doctor_validate_only_mantle_request_never_reaches_the_mantle_step(mantle_harness, mantle_server):
    harness = mantle_harness
    uri = upload(harness, "doctor/canary.jsonl", dataset_lines(100))

    result = harness.run(job_request("doctor-canary-2", GPT_OSS, uri, validate_only=True))

    assert result.status == "SUCCEEDED", result.cause
    assert result.path[-1] == "Validated only"
    assert mantle_server.jobs == {} and mantle_server.file_contents == {}


def test_doctor_validate_only_still_rejects_a_bad_dataset(workflow):
    harness = workflow("bedrock")
    uri = upload(harness, "doctor/short.jsonl", dataset_lines(3))

    result = harness.run(job_request("doctor-canary-3", NOVA, uri, validate_only=True))

    assert result.status == "FAILED"
    assert result.path[:3] == ["Validate request", "Request valid?", "Request rejected"]


def test_doctor_validate_only_must_be_a_boolean(workflow):
    harness = workflow("bedrock")
    uri = upload(harness, "doctor/canary.jsonl", dataset_lines(120))

    result = harness.run(job_request("doctor-canary-4", NOVA, uri, validate_only="yes"))

    assert result.status == "FAILED"
    assert "validate_only" in (result.cause or "")


def test_doctor_validate_only_run_check_passes_against_the_real_workflow(workflow):
    import boto3

    from rft import doctor, names
    from rft.environment import Environment

    harness = workflow("bedrock")
    target = Environment(name="staging", region=harness.region, session=boto3.session.Session())
    target._outputs.update(
        {
            names.DATA_STACK: {
                names.DATASETS_BUCKET_OUTPUT: harness.bucket("staging-Data", "DatasetsBucket")
            },
            names.REWARDS_STACK: {names.GRADERS_OUTPUT: harness.environment_of("Validate")["GRADERS"]},
            names.TRAINING_STACK: {
                names.STATE_MACHINE_OUTPUT: harness.state_machine_arn,
                names.ALLOWED_MODELS_OUTPUT: json.dumps([NOVA]),
            },
        }
    )

    check = doctor.validate_only_run(target, doctor.DoctorOptions(poll_seconds=0.01, run_timeout_seconds=30))

    assert check.status == doctor.OK, check.detail
    assert f"{doctor.CANARY_PROMPTS} prompts" in check.detail and NOVA in check.detail
    assert harness.sdk_calls == [] and harness.notifications() == []
    (run,) = harness.client("stepfunctions").list_executions(stateMachineArn=harness.state_machine_arn)[
        "executions"
    ]
    assert run["name"].startswith("doctor-") and run["status"] == "SUCCEEDED"
