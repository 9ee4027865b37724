"""The job-events function on its own (moto): which events it acts on, and that a token nobody waits
on any more is not an error (events are retried by EventBridge: an error would only repeat)."""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber
from moto import mock_aws

from lambda_workflow import common, job_events
from rft import assumptions

JOB = (
    "arn:aws:bedrock:us-east-1:123456789012:model-customization-job/amazon.nova-2-lite-v1:0:256k/abcdef123456"
)
DEFINITION = {"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}}


@pytest.fixture
def table(monkeypatch):
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("WATCH_TABLE", "watch")
    common._client.cache_clear()
    with mock_aws():
        boto3.client("dynamodb", region_name="us-east-1").create_table(
            TableName="watch",
            KeySchema=[{"AttributeName": "job_arn", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "job_arn", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        yield boto3.client("dynamodb", region_name="us-east-1")
    common._client.cache_clear()


def changed(status: str, job: str = JOB) -> dict:
    return {
        "source": assumptions.BEDROCK_JOB_EVENT_SOURCE,
        "detail-type": assumptions.BEDROCK_JOB_EVENT_DETAIL_TYPE,
        "detail": {"jobArn": job, "jobStatus": status},
    }


def test_job_events_ignore_a_job_that_still_runs(table):
    assert job_events.handler(changed("InProgress")) == {"ignored": True}
    assert table.scan(TableName="watch")["Items"] == []


def stubbed_states(monkeypatch, error_code: str) -> Stubber:
    """Step Functions answering SendTaskSuccess with `error_code` (moto accepts any token)."""
    states = boto3.client("stepfunctions", region_name="us-east-1")
    stubber = Stubber(states)
    stubber.add_client_error("send_task_success", service_error_code=error_code, http_status_code=400)
    stubber.activate()
    real = common.client
    monkeypatch.setattr(
        common, "client", lambda service: states if service == "stepfunctions" else real(service)
    )
    return stubber


def test_job_events_a_stale_token_is_not_an_error(table, monkeypatch):
    job_events.register(JOB, "token-of-a-wait-that-timed-out", 60)
    stubbed_states(monkeypatch, "TaskTimedOut")
    assert job_events.handler(changed("Completed")) == {"completed": False}
    (item,) = table.scan(TableName="watch")["Items"]
    assert item["job_status"] == {"S": "Completed"} and "token" not in item


def test_job_events_other_step_functions_errors_are_raised_for_a_retry(table, monkeypatch):
    job_events.register(JOB, "token", 60)
    stubbed_states(monkeypatch, "ThrottlingException")
    with pytest.raises(ClientError):
        job_events.handler(changed("Completed"))
    # The token is kept for EventBridge's retry of the event.
    (item,) = table.scan(TableName="watch")["Items"]
    assert item["token"] == {"S": "token"}


def test_job_events_an_unwatched_job_is_remembered_not_an_error(table):
    assert job_events.handler(changed("Failed")) == {"completed": False}
    (item,) = table.scan(TableName="watch")["Items"]
    assert item["job_arn"] == {"S": JOB} and int(item["expires_at"]["N"]) > 0


def test_job_events_other_input_is_refused(table):
    with pytest.raises(ValueError, match="register action or a Bedrock job state change"):
        job_events.handler({"detail-type": "Something else", "detail": json.dumps({})})
