"""Event-driven completion on the Bedrock plane, in the synthesized workflow under moto: the job's
end event wakes the waiting run at once; a lost event costs one poll interval and the run still
completes; an event that comes between two waits is not lost."""

from __future__ import annotations

import threading
from typing import Any

from rft import assumptions
from tests.workflow.conftest import NOVA, job_request, upload
from tests.workflow.offline import FakeBedrock, dataset_lines

WAIT_FOR_EVENT = "Wait for Bedrock job event"


def job_event(harness, name: str, status: str) -> dict[str, Any]:
    return {
        "source": assumptions.BEDROCK_JOB_EVENT_SOURCE,
        "detail-type": assumptions.BEDROCK_JOB_EVENT_DETAIL_TYPE,
        "detail": {"jobArn": harness.bedrock_job(name).job_arn, "jobName": name, "jobStatus": status},
    }


def timed_out(result) -> list[dict[str, Any]]:
    return [e for e in result.events if e["type"] == "TaskTimedOut"]


def watch_items(harness) -> list[dict[str, Any]]:
    (table,) = harness.client("dynamodb").list_tables()["TableNames"]
    return harness.client("dynamodb").scan(TableName=table)["Items"]


def request(harness, name: str, wait: int) -> dict[str, Any]:
    uri = upload(harness, "train.jsonl", dataset_lines(120))
    return job_request(name, NOVA, uri, first_wait_seconds=wait, max_wait_seconds=wait, serve=False)


def test_job_events_the_end_event_wakes_the_waiting_run(workflow):
    harness = workflow("bedrock", bedrock=FakeBedrock(job_statuses=["Completed"]))
    execution = harness.start(request(harness, "nova-evented", wait=60))

    def deliver_when_registered() -> None:
        harness.wait(execution, timeout=30, until=lambda r: any("token" in i for i in watch_items(harness)))
        harness.invoke("JobEvents", job_event(harness, "nova-evented", "Completed"))

    sender = threading.Thread(target=deliver_when_registered)
    sender.start()
    result = harness.wait(execution, timeout=30)  # far less than the 60 s poll interval
    sender.join()

    assert result.status == "SUCCEEDED", result.cause
    assert timed_out(result) == []
    assert result.path.count(WAIT_FOR_EVENT) == 1 and "Wait for Bedrock job" not in result.path
    (woken,) = result.outputs_of(WAIT_FOR_EVENT)
    assert woken["job_event"] == {
        "job_arn": harness.bedrock_job("nova-evented").job_arn,
        "status": "Completed",
    }
    assert result.path[-3:] == ["Announce model ready", "Notify model ready", "Succeeded"]


def test_job_events_a_lost_event_falls_back_to_polling(workflow):
    harness = workflow("bedrock", bedrock=FakeBedrock(job_statuses=["InProgress", "Completed"]))

    result = harness.run(request(harness, "nova-lost-event", wait=1))

    assert result.status == "SUCCEEDED", result.cause
    # Each wait timed out (no event came) and the job was polled instead.
    assert len(timed_out(result)) == 2
    assert result.path.count(WAIT_FOR_EVENT) == 2 and result.path.count("Get Bedrock job") == 2
    entered = [
        e["stateEnteredEventDetails"]["name"] for e in result.events if "stateEnteredEventDetails" in e
    ]
    assert entered[entered.index(WAIT_FOR_EVENT) + 1] == "Get Bedrock job"


def test_job_events_an_event_between_two_waits_is_kept_for_the_next(workflow):
    harness = workflow(
        "bedrock", bedrock=FakeBedrock(job_statuses=["InProgress", "Completed"]), virtual_waits=True
    )
    registrations: list[str] = []

    def job_ends_before_the_second_wait(logical_id: str, event: dict) -> None:
        if logical_id.startswith("JobEvents") and event.get("action") == "register":
            registrations.append(event["job_id"])
            if len(registrations) == 2:  # the job ended while the run was looking at it
                from lambda_workflow import job_events

                job_events.handler(job_event(harness, "nova-between", "Completed"))

    harness.before_invoke = job_ends_before_the_second_wait
    result = harness.run(request(harness, "nova-between", wait=600))

    assert result.status == "SUCCEEDED", result.cause
    # The first wait ran out (600 virtual seconds); the second was answered at once.
    assert harness.waits == [600] and len(timed_out(result)) == 1
    assert result.path.count(WAIT_FOR_EVENT) == 2
