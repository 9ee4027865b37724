"""The Mantle start step is safe to retry using only what AWS shows Mantle doing: no client request
token, no job metadata, no `metadata` filter on `jobs.list`. Each test is a way a start attempt can
be cut short, followed by the retry the state machine makes."""

from __future__ import annotations

import io

import boto3
import pytest

from rft import mantle, mantle_start
from rft.errors import MantleError, MantleRetryableError
from rft.job_plan import WorkflowSettings, plan_job, validate_request
from tests.fakes.openai_server import FakeOpenAIServer
from tests.unit.rft.helpers import jsonl, record, s3_with_buckets

GRADER = "arn:aws:lambda:us-west-2:123456789012:function:rft-grader-gsm8k:live"
DATA = jsonl(record(i) for i in range(120))


@pytest.fixture
def fake():
    with FakeOpenAIServer() as server:
        yield server


@pytest.fixture
def s3():
    with s3_with_buckets("us-west-2", "staging-datasets", "staging-artifacts") as client:
        client.put_object(Bucket="staging-datasets", Key="datasets/train.jsonl", Body=DATA)
        yield client


@pytest.fixture
def client(fake):
    session = boto3.session.Session(
        aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="secret", region_name="us-west-2"
    )
    return mantle.mantle_client("us-west-2", session=session, base_url=fake.base_url, max_retries=0)


@pytest.fixture
def plan(s3):
    settings = WorkflowSettings(
        "staging",
        "us-west-2",
        "staging-datasets",
        "staging-artifacts",
        "arn:aws:iam::1:role/r",
        {"gsm8k": GRADER},
    )
    request = validate_request(
        {
            "name": "gsm8k-oss-1",
            "base_model": "openai.gpt-oss-20b",
            "training_data": "s3://staging-datasets/datasets/train.jsonl",
            "reward": "gsm8k",
            "hyperparameters": {"epochCount": 3, "batchSize": 64},
        },
        settings,
    )
    return plan_job(request, settings)["mantle"]


def posts(fake, path):
    return [r for r in fake.requests if r.method == "POST" and r.path == path]


def record_of(s3, plan):
    return mantle_start.read_start_record(s3, plan["start_record"], plan["request_token"])


def test_first_start_uploads_once_creates_once_and_records_the_job(fake, client, s3, plan):
    job = mantle_start.start_job(client, s3, plan)
    created = posts(fake, "/v1/fine_tuning/jobs")
    assert len(created) == 1
    body = created[0].body
    assert set(body) == {"model", "training_file", "method"}
    assert fake.file_contents[body["training_file"]] == DATA
    assert body["method"]["reinforcement"]["hyperparameters"] == {"n_epochs": 3, "batch_size": 64}
    saved = record_of(s3, plan)
    assert (saved.job_id, saved.training_file) == (job.id, body["training_file"])
    assert not [r for r in fake.requests if r.method == "GET" and r.path == "/v1/fine_tuning/jobs"]


def test_a_retry_after_success_returns_the_same_job_without_sending_anything(fake, client, s3, plan):
    job = mantle_start.start_job(client, s3, plan)
    before = len([r for r in fake.requests if r.method == "POST"])
    again = mantle_start.start_job(client, s3, plan)
    assert again.id == job.id
    assert len([r for r in fake.requests if r.method == "POST"]) == before


def test_a_create_that_reached_mantle_but_was_not_recorded_is_found_not_repeated(
    fake, client, s3, plan, monkeypatch
):
    """The Lambda died (timeout, crash) after Mantle created the job, before the id was saved."""
    real_write = mantle_start.write_start_record

    def die_when_recording_the_job(s3_client, uri, saved):
        if saved.job_id:
            raise TimeoutError("Task timed out")
        real_write(s3_client, uri, saved)

    monkeypatch.setattr(mantle_start, "write_start_record", die_when_recording_the_job)
    with pytest.raises(TimeoutError):
        mantle_start.start_job(client, s3, plan)
    monkeypatch.setattr(mantle_start, "write_start_record", real_write)

    again = mantle_start.start_job(client, s3, plan)
    assert len(posts(fake, "/v1/fine_tuning/jobs")) == 1
    assert len(posts(fake, "/v1/files")) == 1  # the upload is reused too
    assert record_of(s3, plan).job_id == again.id
    listed = [r for r in fake.requests if r.method == "GET" and r.path == "/v1/fine_tuning/jobs"]
    assert [set(r.query) for r in listed] == [{"limit"}]  # one bounded page, no metadata filter


def test_a_create_mantle_refused_with_503_is_sent_again_on_retry_with_the_same_file(fake, client, s3, plan):
    fake.fail_next("/v1/fine_tuning/jobs", 503, "Service unavailable")  # the first create
    with pytest.raises(MantleRetryableError):
        mantle_start.start_job(client, s3, plan)
    assert not fake.jobs

    job = mantle_start.start_job(client, s3, plan)
    assert list(fake.jobs) == [job.id]
    assert len(posts(fake, "/v1/files")) == 1
    assert len(posts(fake, "/v1/fine_tuning/jobs")) == 2


def test_the_create_is_not_retried_by_the_sdk(fake, s3, plan):
    """An SDK retry of the POST after a timeout could create a second job: the step's own
    recovery decides instead, so even a client built with retries sends the create once."""
    session = boto3.session.Session(aws_access_key_id="A", aws_secret_access_key="s", region_name="us-west-2")
    retrying = mantle.mantle_client("us-west-2", session=session, base_url=fake.base_url, max_retries=3)
    fake.fail_next("/v1/fine_tuning/jobs", 500, "Internal error")  # one failure: an SDK retry would succeed
    with pytest.raises(MantleError):
        mantle_start.start_job(retrying, s3, plan)
    assert len(posts(fake, "/v1/fine_tuning/jobs")) == 1


def test_the_recovery_scan_stops_at_jobs_older_than_the_create(fake, client, s3, plan):
    """Another job on the same training file id cannot exist (ids are per upload), but an older
    job is never claimed: the scan ends at the first job created before this create was sent."""
    file_id = mantle.upload_file(client, io.BytesIO(DATA), filename="train.jsonl")
    old = mantle.create_reinforcement_job(
        client, model="openai.gpt-oss-20b", training_file=file_id, grader_arn=GRADER
    )
    fake.jobs[old.id]["created_at"] -= 3600
    stale = mantle_start.StartRecord(
        plan["request_token"], training_file=file_id, create_sent_at=fake.jobs[old.id]["created_at"] + 3600
    )
    assert mantle_start.find_created_job(client, stale) is None


def test_a_record_of_another_request_is_an_error_not_a_job(s3, plan):
    other = mantle_start.StartRecord("another-token", training_file="file-1", job_id="ftjob-9")
    mantle_start.write_start_record(s3, plan["start_record"], other)
    with pytest.raises(MantleError, match="belongs to another request"):
        record_of(s3, plan)
