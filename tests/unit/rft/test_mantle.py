import base64
import io
import json
import subprocess
import sys
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest

from rft import mantle, mantle_metrics
from rft.errors import MantleError, MantleRetryableError
from rft.status import JobState
from tests.fakes.openai_server import FakeOpenAIServer
from tests.unit.rft.helpers import jsonl, record

GRADER = "arn:aws:lambda:us-west-2:123456789012:function:rft-grader-gsm8k:live"


def session():
    return boto3.session.Session(
        aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="secret", region_name="us-west-2"
    )


@pytest.fixture
def fake():
    with FakeOpenAIServer() as server:
        yield server


@pytest.fixture
def client(fake):
    return mantle.mantle_client(
        "us-west-2", session=session(), base_url=fake.base_url, max_retries=0, timeout=10
    )


def upload(client, data: bytes = b'{"a": 1}\n') -> str:
    return mantle.upload_file(client, io.BytesIO(data), filename="train.jsonl")


def test_default_base_url_is_the_regions_mantle_endpoint():
    client = mantle.mantle_client("us-west-2", session=session())
    assert str(client.base_url).rstrip("/") == "https://bedrock-mantle.us-west-2.api.aws/v1"


def test_bearer_auth_sends_a_short_term_bedrock_api_key(client, fake):
    upload(client)
    header = fake.requests[-1].headers["authorization"]
    assert header.startswith("Bearer bedrock-api-key-")
    presigned = base64.b64decode(header.removeprefix("Bearer bedrock-api-key-")).decode()
    query = parse_qs(urlsplit("https://" + presigned).query)
    assert query["Action"] == ["CallWithBearerToken"]
    assert query["X-Amz-Credential"][0].startswith("AKIDEXAMPLE/")
    assert "/us-west-2/bedrock/aws4_request" in query["X-Amz-Credential"][0]
    assert query["X-Amz-Expires"] == [str(mantle.TOKEN_LIFETIME_SECONDS)]


def test_sigv4_auth_signs_for_bedrock_mantle(fake):
    client = mantle.mantle_client(
        "us-west-2", session=session(), auth="sigv4", base_url=fake.base_url, max_retries=0
    )
    with pytest.raises(MantleError, match="HTTP 404"):
        mantle.get_job(client, "ftjob-missing")
    header = fake.requests[-1].headers["authorization"]
    assert header.startswith("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")
    assert "/us-west-2/bedrock-mantle/aws4_request" in header


def test_sigv4_cannot_upload_and_says_so(fake):
    client = mantle.mantle_client(
        "us-west-2", session=session(), auth="sigv4", base_url=fake.base_url, max_retries=0
    )
    with pytest.raises(MantleError, match="signs with SigV4"):
        upload(client)
    assert [r for r in fake.requests if r.path == "/v1/files"] == []  # refused before sending


def test_unknown_auth_mode():
    with pytest.raises(ValueError, match="auth must be"):
        mantle.mantle_client("us-west-2", session=session(), auth="password")


def test_missing_credentials_are_one_clear_error(fake):
    class NoCredentials:
        def get_credentials(self):
            return None

    client = mantle.mantle_client("us-west-2", session=NoCredentials(), base_url=fake.base_url, max_retries=0)
    with pytest.raises(Exception, match="No AWS credentials found"):
        mantle.get_job(client, "x")


def test_token_provider_caches_and_renews_before_expiry():
    now = [0.0]
    provider = mantle.BedrockTokenProvider(
        "us-west-2", session(), lifetime_seconds=3600, clock=lambda: now[0]
    )
    calls = []
    provider._generate = lambda: calls.append(now[0]) or f"token-{len(calls)}"
    assert provider() == "token-1"
    now[0] = 2999.0
    assert provider() == "token-1"
    now[0] = 3000.0  # ten minutes before expiry
    assert provider() == "token-2"
    assert calls == [0.0, 3000.0]


def test_upload_file_streams_the_content(client, fake):
    data = jsonl(record(i) for i in range(300))
    file_id = upload(client, data)
    assert fake.file_contents[file_id] == data
    assert fake.files[file_id]["purpose"] == "fine-tune"
    assert fake.files[file_id]["filename"] == "train.jsonl"


def test_upload_refuses_a_file_over_the_limit(client, monkeypatch):
    monkeypatch.setattr(mantle.assumptions, "MANTLE_MAX_FILE_BYTES", 10)
    with pytest.raises(MantleError, match="larger than the 10 bytes"):
        upload(client, b"x" * 11)


def test_create_job_sends_only_the_fields_aws_shows_working(client, fake):
    """The AWS samples create a Mantle job with model, training_file and method only (suffix is
    commented out as "not supported"); anything more risks a 400 on the first real run."""
    file_id = upload(client)
    job = mantle.create_reinforcement_job(
        client,
        model="openai.gpt-oss-20b",
        training_file=file_id,
        grader_arn=GRADER,
        hyperparameters={"n_epochs": 2, "learning_rate_multiplier": 0.5},
    )
    body = fake.requests[-1].body
    assert fake.requests[-1].path == "/v1/fine_tuning/jobs"
    assert set(body) == {"model", "training_file", "method"}
    assert body["method"] == {
        "type": "reinforcement",
        "reinforcement": {
            "grader": {"type": "lambda", "lambda": {"function": GRADER}},
            "hyperparameters": {"n_epochs": 2, "learning_rate_multiplier": 0.5},
        },
    }
    assert body["model"] == "openai.gpt-oss-20b"
    assert body["training_file"] == file_id
    assert (job.status, job.state, job.model) == ("validating_files", JobState.RUNNING, "openai.gpt-oss-20b")


@pytest.mark.parametrize(
    ("field", "value", "flag"),
    [
        ("suffix", "gsm8k-oss-1", "MANTLE_JOB_SUFFIX_SUPPORTED"),
        ("metadata", {"rft_request_token": "tok"}, "MANTLE_JOB_METADATA_SUPPORTED"),
        ("validation_file", "file-9", "MANTLE_VALIDATION_FILE_SUPPORTED"),
    ],
)
def test_an_unconfirmed_extra_is_refused_until_its_flag_is_on(client, fake, monkeypatch, field, value, flag):
    file_id = upload(client)
    kwargs = {"model": "openai.gpt-oss-20b", "training_file": file_id, "grader_arn": GRADER, field: value}
    with pytest.raises(MantleError, match=f"not known to accept '{field}'"):
        mantle.create_reinforcement_job(client, **kwargs)
    assert [r.path for r in fake.requests if r.method == "POST"] == ["/v1/files"]  # nothing sent

    monkeypatch.setattr(mantle.assumptions, flag, True)
    fake.accepted_job_fields = fake.accepted_job_fields | {field}  # as if Mantle confirmed it
    mantle.create_reinforcement_job(client, **kwargs)
    assert fake.requests[-1].body[field] == value


def test_the_fake_refuses_an_undocumented_job_field_as_the_api_does(client, fake):
    file_id = upload(client)
    response = client.with_options(max_retries=0).fine_tuning.jobs.with_raw_response
    import openai

    with pytest.raises(openai.BadRequestError, match="Unrecognized request argument supplied: suffix"):
        response.create(model="openai.gpt-oss-20b", training_file=file_id, suffix="x")


def test_the_fake_refuses_a_list_filter_no_aws_source_shows(client):
    """`jobs.list(metadata=...)` is OpenAI's; no AWS source shows Mantle filtering by it."""
    import openai

    with pytest.raises(openai.BadRequestError, match=r"Unrecognized request argument supplied: metadata\["):
        client.fine_tuning.jobs.list(metadata={"rft_request_token": "tok"}, limit=10)


def test_retrieve_maps_statuses_and_exposes_the_model(client, fake):
    job = mantle.create_reinforcement_job(
        client, model="qwen.qwen3-32b", training_file=upload(client), grader_arn=GRADER
    )
    states = []
    for status in ("queued", "running", "succeeded"):
        fake.set_job(
            job.id,
            status=status,
            fine_tuned_model="qwen.qwen3-32b:ft:gsm8k" if status == "succeeded" else None,
        )
        states.append(mantle.get_job(client, job.id).state)
    assert states == [JobState.RUNNING, JobState.RUNNING, JobState.SUCCEEDED]
    done = mantle.get_job(client, job.id)
    assert done.fine_tuned_model == "qwen.qwen3-32b:ft:gsm8k"
    assert done.to_dict()["terminal"] is True


def test_a_failed_job_carries_the_service_message(client, fake):
    job = mantle.create_reinforcement_job(
        client, model="qwen.qwen3-32b", training_file=upload(client), grader_arn=GRADER
    )
    fake.set_job(
        job.id, status="failed", error={"code": "grader_error", "message": "The grader Lambda timed out"}
    )
    failed = mantle.get_job(client, job.id)
    assert failed.state is JobState.FAILED
    assert failed.error == "The grader Lambda timed out"


def test_cancel_a_running_job_and_an_ended_one(client, fake):
    job = mantle.create_reinforcement_job(
        client, model="qwen.qwen3-32b", training_file=upload(client), grader_arn=GRADER
    )
    cancelled = mantle.cancel_job(client, job.id)
    assert cancelled.state is JobState.STOPPED
    again = mantle.cancel_job(client, job.id)  # the cleanup may run twice
    assert again.status == "cancelled"
    with pytest.raises(MantleError, match="HTTP 404"):
        mantle.cancel_job(client, "ftjob-unknown")


def test_events_become_per_step_metrics_across_pages(client, fake):
    job_id = fake.add_job()["id"]
    fake.add_event(job_id, "Validating training file")
    for step in range(1, 251):
        fake.add_metrics(
            job_id, step=step, total_steps=250, critic_rewards_mean=0.5 + step / 1000, actor_entropy=1.0
        )
    fake.add_metrics(
        job_id, step=250, total_steps=250, critic_rewards_mean=0.9, actor_entropy=0.9
    )  # later wins
    metrics = mantle_metrics.list_step_metrics(client, job_id, page_size=100)
    assert [m.step for m in metrics] == list(range(1, 251))
    assert metrics[0].values == {"critic_rewards_mean": 0.501, "actor_entropy": 1.0}
    assert metrics[-1].values["critic_rewards_mean"] == 0.9
    assert metrics[0].total_steps == 250
    event_requests = [r for r in fake.requests if r.path.endswith("/events")]
    assert len(event_requests) == 3
    assert event_requests[1].query["after"]


def test_metrics_summary_and_jsonl():
    metrics = [
        mantle_metrics.StepMetrics(step, 67, {"critic_rewards_mean": 0.5 + step / 200, "actor_entropy": 1.0})
        for step in range(1, 68)
    ]
    summary = mantle_metrics.summarize_metrics(metrics, max_points=10)
    assert summary["last_step"] == 67 and summary["total_steps"] == 67
    assert summary["reward_first"] == pytest.approx(0.505)
    assert summary["reward_last"] == pytest.approx(0.835)
    assert summary["reward_max"] == pytest.approx(0.835)
    series = summary["series"]["critic_rewards_mean"]
    assert len(series) <= 11 and series[0][0] == 1 and series[-1][0] == 67
    assert mantle_metrics.summarize_metrics([]) == {}
    lines = mantle_metrics.metrics_jsonl(metrics[:2]).splitlines()
    assert json.loads(lines[0]) == {
        "step": 1,
        "total_steps": 67,
        "created_at": None,
        "critic_rewards_mean": 0.505,
        "actor_entropy": 1.0,
    }


def test_parse_metrics_event_ignores_other_events():
    assert mantle_metrics.parse_metrics_event({"data": None}) is None
    assert mantle_metrics.parse_metrics_event({"data": {"step": True}}) is None
    parsed = mantle_metrics.parse_metrics_event(
        {"data": {"step": 3, "loss": 0.1, "note": "x"}, "created_at": 5}
    )
    assert (parsed.step, parsed.total_steps, dict(parsed.values), parsed.created_at) == (
        3,
        None,
        {"loss": 0.1},
        5,
    )


@pytest.mark.parametrize(("status", "error"), [(429, MantleRetryableError), (503, MantleRetryableError)])
def test_throttling_is_a_retryable_error(client, fake, status, error):
    fake.fail_next("/v1/", status, "Too many requests")
    with pytest.raises(error, match=f"HTTP {status}"):
        mantle.get_job(client, "ftjob-1")


def test_a_refusal_names_the_call_and_the_message(client, fake):
    fake.fail_next("/v1/", 400, "model not supported for reinforcement")
    with pytest.raises(MantleError) as caught:
        mantle.create_reinforcement_job(client, model="x", training_file="file-1", grader_arn=GRADER)
    assert not isinstance(caught.value, MantleRetryableError)
    assert "Mantle refused to create a job on x: HTTP 400" in str(caught.value)
    assert "model not supported for reinforcement" in str(caught.value)


def test_an_unreachable_endpoint_is_retryable():
    client = mantle.mantle_client(
        "us-west-2", session=session(), base_url="http://127.0.0.1:9/v1", max_retries=0, timeout=2
    )
    with pytest.raises(MantleRetryableError, match="Could not reach Mantle"):
        mantle.get_job(client, "ftjob-1")


def test_the_library_imports_without_openai_cdk_typer_or_rich():
    code = (
        "import sys\n"
        "for blocked in ('openai', 'aws_cdk', 'typer', 'rich'):\n"
        "    sys.modules[blocked] = None\n"
        "import rft.assumptions, rft.aws, rft.catalog, rft.datasets, rft.errors, rft.hyperparameters\n"
        "import rft.job_plan, rft.jobs, rft.mantle, rft.mantle_metrics, rft.mantle_start, rft.records\n"
        "import rft.registry, rft.status\n"
        "print('ok')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert result.stdout.strip() == "ok", result.stderr


def test_the_assumption_switches_the_default_auth(fake, monkeypatch):
    monkeypatch.setattr(mantle.assumptions, "MANTLE_ACCEPTS_SHORT_TERM_API_KEYS", False)
    client = mantle.mantle_client("us-west-2", session=session(), base_url=fake.base_url, max_retries=0)
    with pytest.raises(MantleError):
        mantle.get_job(client, "ftjob-missing")
    assert fake.requests[-1].headers["authorization"].startswith("AWS4-HMAC-SHA256 ")
