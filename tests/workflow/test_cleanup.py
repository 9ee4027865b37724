"""An aborted or timed-out run stops its job: the EventBridge rule of the template matches Step
Functions' status-change event, and the cleanup handler (with the template's environment) stops
the Bedrock job or cancels the Mantle job it reads from the execution's history."""

from __future__ import annotations

import json

import pytest
from moto.events.models import EventPattern

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
    (rule,) = [r for r in template["Resources"].values() if r["Type"] == "AWS::Events::Rule"]
    pattern = harness.resolver.resolve(harness.training_stack, rule["Properties"]["EventPattern"])
    return EventPattern.load(json.dumps(pattern)).matches_event(event)


def abort_while_watching(harness: WorkflowHarness, request: dict) -> str:
    execution = harness.start(request)
    harness.wait(execution, until=lambda r: bool(r.path) and r.path[-1].startswith("Wait for"))
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


def test_an_aborted_mantle_run_cancels_its_job(workflow, mantle_server):
    harness = workflow("mantle", function_environment={"Mantle": {"MANTLE_BASE_URL": mantle_server.base_url}})
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
