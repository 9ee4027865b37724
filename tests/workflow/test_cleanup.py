"""An aborted or timed-out run stops its job: the EventBridge rule of the template matches Step
Functions' status-change event, and the cleanup handler (with the template's environment) stops
the Bedrock job or cancels the Mantle job it reads from the execution's history."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber
from moto.events.models import EventPattern

from lambda_workflow import cleanup
from tests.workflow.conftest import GPT_OSS, NOVA, job_request, upload
from tests.workflow.offline import FakeBedrock, WorkflowHarness, dataset_lines

LONG_WAIT = {"first_wait_seconds": 3600, "max_wait_seconds": 3600}


def status_change_event(harness: WorkflowHarness, execution_arn: str, status: str) -> dict:
    """The event Step Functions sends to the default bus when an execution's status changes."""
    return {
        "version": "0",
        "id": "6f5cbd6b-0000-0000-0000-000000000000",
        "detail-type": "Step Functions Execution Status Change",
        "source": "aws.states",
        "account": "123456789012",
        "time": "2026-01-01T00:00:00Z",
        "region": harness.region,
        "resources": [execution_arn],
        "detail": {
            "executionArn": execution_arn,
            "stateMachineArn": harness.state_machine_arn,
            "name": execution_arn.rsplit(":", 1)[-1],
            "status": status,
            "startDate": 1767225600000,
            "stopDate": 1767229200000,
        },
    }


def rule_matches(harness: WorkflowHarness, event: dict) -> bool:
    """The template's rule pattern (resolved) against `event`, with EventBridge's matcher as moto
    implements it (moto has no TestEventPattern API)."""
    template = harness.templates[harness.training_stack]
    (rule,) = [
        r
        for r in template["Resources"].values()
        if r["Type"] == "AWS::Events::Rule" and r["Properties"]["EventPattern"]["source"] == ["aws.states"]
    ]
    pattern = harness.resolver.resolve(harness.training_stack, rule["Properties"]["EventPattern"])
    return EventPattern.load(json.dumps(pattern)).matches_event(event)


def without_job_events(logical_id: str, event: dict) -> None:
    """moto defect: stopping an execution does not interrupt a task-token wait (Step Functions does),
    and the run then ends FAILED. Refusing the wait's registration sends the run down its fallback,
    the plain Wait, where a stop lands as it does on AWS."""
    if logical_id.startswith("JobEvents") and event.get("action") == "register":
        raise RuntimeError("job events unavailable in this test")


def abort_while_watching(harness: WorkflowHarness, request: dict) -> str:
    harness.before_invoke = without_job_events
    execution = harness.start(request)
    harness.wait(
        execution,
        until=lambda r: bool(r.path) and r.path[-1] in ("Wait for Bedrock job", "Wait for Mantle job"),
    )
    harness.client("stepfunctions").stop_execution(executionArn=execution, cause="changed my mind")
    assert harness.wait(execution).status == "ABORTED"
    return execution


@pytest.mark.parametrize("status", ["ABORTED", "TIMED_OUT"])
def test_the_cleanup_rule_fires_on_aborted_and_timed_out_runs_of_this_state_machine(workflow, status):
    harness = workflow("bedrock")
    arn = f"{harness.state_machine_arn.replace(':stateMachine:', ':execution:')}:run-1"
    assert rule_matches(harness, status_change_event(harness, arn, status))


def test_the_cleanup_rule_ignores_other_statuses_and_other_state_machines(workflow):
    harness = workflow("bedrock")
    arn = f"{harness.state_machine_arn.replace(':stateMachine:', ':execution:')}:run-1"
    assert not rule_matches(harness, status_change_event(harness, arn, "FAILED"))
    other = status_change_event(harness, arn, "ABORTED")
    other["detail"]["stateMachineArn"] = harness.state_machine_arn + "-other"
    assert not rule_matches(harness, other)


def test_an_aborted_bedrock_run_stops_its_job(workflow):
    harness = workflow("bedrock", bedrock=FakeBedrock(job_statuses=["InProgress"]))
    uri = upload(harness, "train.jsonl", dataset_lines(120))
    execution = abort_while_watching(harness, job_request("nova-aborted", NOVA, uri, **LONG_WAIT))
    assert harness.bedrock_job("nova-aborted").status == "InProgress"

    outcome = harness.invoke("Cleanup", status_change_event(harness, execution, "ABORTED"))

    job = harness.bedrock_job("nova-aborted")
    assert job.status == "Stopped"
    assert outcome["action"] == "stopped" and outcome["job_id"] == job.job_arn
    (mail,) = harness.notifications()
    assert mail["subject"] == "RFT run nova-aborted aborted"
    assert "its job was stopped" in mail["message"]


def test_cleanup_leaves_a_job_that_already_ended(workflow):
    harness = workflow("bedrock", bedrock=FakeBedrock(job_statuses=["InProgress"]))
    uri = upload(harness, "train.jsonl", dataset_lines(120))
    execution = abort_while_watching(harness, job_request("nova-done", NOVA, uri, **LONG_WAIT))
    harness.bedrock_job("nova-done").status = "Completed"

    outcome = harness.invoke("Cleanup", status_change_event(harness, execution, "TIMED_OUT"))

    assert outcome["action"] == "none" and "already ended (Completed)" in outcome["reason"]
    assert harness.bedrock_job("nova-done").status == "Completed"


def test_an_aborted_mantle_run_cancels_its_job(mantle_harness, mantle_server):
    harness = mantle_harness
    uri = upload(harness, "train.jsonl", dataset_lines(120))
    execution = abort_while_watching(harness, job_request("oss-aborted", GPT_OSS, uri, **LONG_WAIT))

    with pytest.MonkeyPatch.context() as patch:
        # The cleanup function has no MANTLE_BASE_URL of its own in the template: point it here too.
        patch.setitem(
            next(t for t in harness.functions.values() if t.logical_id.startswith("Cleanup")).environment,
            "MANTLE_BASE_URL",
            mantle_server.base_url,
        )
        outcome = harness.invoke("Cleanup", status_change_event(harness, execution, "ABORTED"))

    (job,) = mantle_server.jobs.values()
    assert job["status"] == "cancelled"
    assert outcome["action"] == "cancelled" and outcome["job_id"] == job["id"]


def test_a_run_aborted_before_validation_has_nothing_to_stop(workflow):
    harness = workflow("bedrock")
    execution = harness.client("stepfunctions").start_execution(
        stateMachineArn=harness.state_machine_arn, name="never-validated", input="{}"
    )["executionArn"]
    harness.wait(execution)

    outcome = harness.invoke("Cleanup", status_change_event(harness, execution, "ABORTED"))

    assert outcome["action"] == "none" and "before its request was validated" in outcome["reason"]


RACED_JOB = (
    "arn:aws:bedrock:us-east-1:123456789012:model-customization-job/amazon.nova-2-lite-v1:0:256k/abcdefghijkl"
)


def _bedrock_stubbed(stop_error: str) -> tuple[object, Stubber]:
    """A bedrock client whose every request botocore validates: the job is still running when
    checked, then refuses to stop with `stop_error` because it ended in between."""
    bedrock = boto3.client(
        "bedrock", region_name="us-east-1", aws_access_key_id="a", aws_secret_access_key="s"
    )
    stubber = Stubber(bedrock)
    job_arn = RACED_JOB
    stubber.add_response(
        "get_model_customization_job",
        {
            "jobArn": job_arn,
            "jobName": "nova-race",
            "outputModelName": "nova-race",
            "roleArn": "arn:aws:iam::123456789012:role/r",
            "status": "InProgress",
            "creationTime": datetime(2026, 1, 1, tzinfo=UTC),
            "baseModelArn": "arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-2-lite-v1:0:256k",
            "trainingDataConfig": {"s3Uri": "s3://b/train.jsonl"},
            "validationDataConfig": {"validators": []},
            "outputDataConfig": {"s3Uri": "s3://b/out/"},
        },
        {"jobIdentifier": job_arn},
    )
    stubber.add_client_error(
        "stop_model_customization_job",
        service_error_code=stop_error,
        service_message="The job cannot be stopped in its current state",
        http_status_code=409 if stop_error == "ConflictException" else 400,
        expected_params={"jobIdentifier": job_arn},
    )
    stubber.activate()
    return bedrock, stubber


@pytest.mark.parametrize("code", ["ConflictException", "ValidationException"])
def test_a_job_that_ends_between_check_and_stop_is_left_as_it_is(code):
    """StopModelCustomizationJob raises ConflictException (botocore's error shapes) for a job that
    can no longer be stopped; cleanup must report that, not fail and notify no one."""
    bedrock, stubber = _bedrock_stubbed(code)
    outcome = cleanup.stop_bedrock_job(bedrock, {}, RACED_JOB)
    assert outcome["action"] == "none" and "ended before it could be stopped" in outcome["reason"]
    stubber.assert_no_pending_responses()


def test_any_other_stop_error_still_fails_the_cleanup():
    bedrock, _ = _bedrock_stubbed("AccessDeniedException")
    with pytest.raises(ClientError, match="AccessDeniedException"):
        cleanup.stop_bedrock_job(bedrock, {}, RACED_JOB)
