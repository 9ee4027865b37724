"""The Mantle (OpenAI-compatible) control plane end to end: the state machine under moto, the
real Mantle handler driving the real openai SDK over HTTP against a local fake of the API."""

from __future__ import annotations

import json

from rft.records import ModelRecord
from tests.workflow.conftest import (
    ACCEPTED_PATH,
    GPT_OSS,
    PUBLISHED_PATH,
    grader_arn,
    job_request,
    on_mantle_status,
    upload,
)
from tests.workflow.offline import dataset_lines

JOB_POLL = ["Wait for Mantle job", "Get Mantle job", "Mantle job status?"]
HEALTH_LOOK = ["Check Mantle training health", "Mantle training healthy?"]


def test_a_mantle_run_trains_and_publishes_the_model_with_its_metrics(mantle_harness, mantle_server):
    harness = mantle_harness
    lines = dataset_lines(110)
    uri = upload(harness, "gsm8k/train.jsonl", lines)

    def progress(event: dict, step: int) -> None:
        """Mantle's side of the run: metrics on each poll, done on the third."""
        job_id = event["job_id"]
        mantle_server.add_metrics(
            job_id, step=step, total_steps=3, critic_rewards_mean=0.5 + 0.1 * step, actor_entropy=0.9
        )
        if step == 1:
            mantle_server.set_job(job_id, status="running")
        if step == 3:
            mantle_server.set_job(job_id, status="succeeded", fine_tuned_model=f"ft:{GPT_OSS}:oss-math-1")

    harness.before_invoke = on_mantle_status(progress)
    result = harness.run(
        job_request("oss-math-1", GPT_OSS, uri, hyperparameters={"epochCount": 2, "learningRate": 0.00002})
    )

    assert result.status == "SUCCEEDED", result.cause
    running = [*JOB_POLL, *HEALTH_LOOK]  # the guard looks at each poll that finds the job running
    assert result.path == [
        *ACCEPTED_PATH,
        "Start Mantle job",
        "Mantle: guard starts",
        *running * 2,
        *JOB_POLL,
        *PUBLISHED_PATH,
    ]
    # The training file went through the Files API unchanged, and the job is a reinforcement job
    # graded by the reward's live alias, with the hyperparameters under Mantle's names.
    (uploaded,) = mantle_server.file_contents.values()
    assert uploaded.decode().splitlines() == lines
    (job,) = mantle_server.jobs.values()
    assert job["model"] == GPT_OSS
    (create,) = mantle_server.requests_to("/v1/fine_tuning/jobs", "POST")
    assert set(create.body) == {"model", "training_file", "method"}  # what the AWS samples send
    reinforcement = job["method"]["reinforcement"]
    assert reinforcement["grader"] == {
        "type": "lambda",
        "lambda": {"function": grader_arn(harness, "math_answer")},
    }
    assert reinforcement["hyperparameters"] == {"n_epochs": 2, "learning_rate_multiplier": 0.2}
    # Authenticated with a short-term Bedrock API key made from the function's own credentials.
    headers = {key.lower(): value for key, value in create.headers.items()}
    assert headers["authorization"].startswith("Bearer bedrock-api-key-")

    value = harness.client("ssm").get_parameter(Name="/rft/staging/models/oss-math-1")["Parameter"]["Value"]
    stored = ModelRecord.from_json(value)
    assert stored.provider == "mantle" and stored.status == "ready"
    assert stored.model_id == f"ft:{GPT_OSS}:oss-math-1" and stored.job_id == job["id"]
    assert stored.base_url == "https://bedrock-mantle.us-west-2.api.aws/v1"
    assert stored.metrics["reward_last"] == 0.8 and stored.metrics["last_step"] == 3
    # When the job finished comes through the status step's selected fields (rft.workflow_state.MantleJob).
    assert stored.completed_at is not None

    artifacts = harness.environment_of("Validate")["ARTIFACTS_BUCKET"]
    assert stored.metrics["metrics_uri"] == f"s3://{artifacts}/jobs/oss-math-1/metrics.jsonl"
    body = (
        harness.client("s3").get_object(Bucket=artifacts, Key="jobs/oss-math-1/metrics.jsonl")["Body"].read()
    )
    steps = [json.loads(line) for line in body.decode().splitlines()]
    assert [s["step"] for s in steps] == [1, 2, 3]
    assert steps[-1]["critic_rewards_mean"] == 0.8 and steps[-1]["total_steps"] == 3

    (mail,) = harness.notifications()
    assert mail["subject"] == "RFT model oss-math-1 is ready"
    assert f"ft:{GPT_OSS}:oss-math-1" in mail["message"]


def test_a_throttled_mantle_call_is_retried(mantle_harness, mantle_server):
    harness = mantle_harness
    uri = upload(harness, "train.jsonl", dataset_lines(100))

    def throttle_then_finish(event: dict, look: int) -> None:
        if look == 1:
            # More 429s than the SDK's own retries absorb: the step fails as retryable.
            for _ in range(4):
                mantle_server.fail_next("/v1/fine_tuning/jobs", 429, "slow down", **{"retry-after-ms": "1"})
        else:
            mantle_server.set_job(event["job_id"], status="succeeded", fine_tuned_model="ft:oss:2")

    harness.before_invoke = on_mantle_status(throttle_then_finish)
    result = harness.run(job_request("oss-math-2", GPT_OSS, uri))

    assert result.status == "SUCCEEDED", result.cause
    failed = [e["taskFailedEventDetails"]["error"] for e in result.events if e["type"] == "TaskFailed"]
    assert failed == ["MantleRetryableError"]
    assert len(harness.retry_sleeps) == 1 and 0 <= harness.retry_sleeps[0] <= 5
