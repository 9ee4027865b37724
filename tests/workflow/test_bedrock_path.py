"""The Bedrock control plane end to end: the synthesized state machine under moto, the real
validate and publish handlers, scripted job and deployment statuses."""

from __future__ import annotations

import json

from rft.records import ModelRecord
from tests.workflow.conftest import ACCEPTED_PATH, NOVA, PUBLISHED_PATH, grader_arn, job_request, upload
from tests.workflow.offline import THROTTLE, FakeBedrock, dataset_lines

READY_EVENTS = {"source": ["rft-stack"], "detail-type": ["RFT Model Ready"]}
# One look at the job. A zero wait (as in these tests) cannot be a task-token timeout: the job is polled.
JOB_POLL = [
    "Bedrock: wait for the job's event?",
    "Wait for Bedrock job",
    "Get Bedrock job",
    "Bedrock job status?",
]
# A job still in progress: the health guard looks at the run's metrics before the next wait.
HEALTH_LOOK = ["Check Bedrock training health", "Bedrock training healthy?"]
DEPLOYMENT_POLL = ["Wait for deployment", "Get deployment", "Deployment status?"]


def record(harness, name: str) -> ModelRecord:
    value = harness.client("ssm").get_parameter(Name=f"/rft/staging/models/{name}")["Parameter"]["Value"]
    return ModelRecord.from_json(value)


def test_a_bedrock_run_trains_deploys_and_publishes_the_model(workflow):
    harness = workflow("bedrock")
    events = harness.capture_events(READY_EVENTS)
    uri = upload(harness, "gsm8k/train-0001.jsonl", dataset_lines(150))

    result = harness.run(job_request("nova-math-1", NOVA, uri, hyperparameters={"epochCount": 3}))

    assert result.status == "SUCCEEDED", result.cause
    assert result.path == [
        *ACCEPTED_PATH,
        "Validation data given?",
        "Start Bedrock job",
        "Bedrock: guard starts",
        *JOB_POLL,
        *HEALTH_LOOK,  # still in progress
        *JOB_POLL,
        "Deploy the model?",
        "Create deployment",
        *DEPLOYMENT_POLL * 2,
        *PUBLISHED_PATH,
    ]
    (deployment_arn,) = harness.bedrock.deployments
    job = harness.bedrock_job("nova-math-1")
    stored = record(harness, "nova-math-1")
    assert stored.provider == "bedrock"
    assert stored.status == "ready"
    assert stored.model_id == deployment_arn == stored.deployment_arn
    assert stored.custom_model_arn == job.output_model_arn
    assert stored.job_id == job.job_arn
    assert stored.base_model == NOVA and stored.reward == "math_answer" and stored.region == "us-east-1"
    assert stored.hyperparameters == {
        "epochCount": 3,
        "batchSize": 128,
        "learningRate": 0.0001,
        "trainingSamplePerPrompt": 4,
    }
    assert stored.execution_arn == result.arn and stored.started_at and stored.published_at

    (ready,) = harness.events(events)
    assert ready["detail"]["name"] == "nova-math-1" and ready["detail"]["model_id"] == deployment_arn
    (mail,) = harness.notifications()
    assert mail["subject"] == "RFT model nova-math-1 is ready"
    assert "/rft/staging/models/nova-math-1" in mail["message"] and deployment_arn in mail["message"]


def test_the_customization_job_is_an_rft_job_graded_by_the_reward_alias(workflow):
    harness = workflow("bedrock", bedrock=FakeBedrock(job_statuses=["Completed"]))
    uri = upload(harness, "gsm8k/train.jsonl", dataset_lines(120))
    validation = upload(harness, "gsm8k/validation.jsonl", dataset_lines(20, start=500))

    result = harness.run(
        job_request("nova-math-2", NOVA, uri, validation_data=validation, serve=False, tags={"team": "ml"})
    )

    assert result.status == "SUCCEEDED", result.cause
    assert "Start Bedrock job with validation data" in result.path and "Create deployment" not in result.path
    (create,) = harness.sdk_calls_to("createModelCustomizationJob")
    environment = harness.environment_of("Validate")
    assert create["customizationType"] == "REINFORCEMENT_FINE_TUNING"
    grader = create["customizationConfig"]["rftConfig"]["graderConfig"]["lambdaGrader"]["lambdaArn"]
    assert grader == grader_arn(harness, "math_answer") and grader.endswith(":live")
    assert create["customizationConfig"]["rftConfig"]["hyperParameters"]["batchSize"] == 128
    assert create["roleArn"] == environment["BEDROCK_ROLE_ARN"]
    assert create["customModelKmsKeyId"] == environment["DATA_KEY_ARN"]
    assert create["trainingDataConfig"] == {"s3Uri": uri}
    assert create["validationDataConfig"] == {"validators": [{"s3Uri": validation}]}
    artifacts = environment["ARTIFACTS_BUCKET"]
    assert create["outputDataConfig"] == {"s3Uri": f"s3://{artifacts}/jobs/nova-math-2/output/"}
    assert create["clientRequestToken"].startswith("nova-math-2-job-")
    tags = {t["key"]: t["value"] for t in create["jobTags"]}
    assert (
        tags["team"] == "ml" and tags["rft:environment"] == "staging" and tags["rft:reward"] == "math_answer"
    )
    assert create["customModelTags"] == create["jobTags"]
    # Not served: the record names the custom model and says it is not callable yet.
    stored = record(harness, "nova-math-2")
    assert stored.status == "trained" and stored.deployment_arn is None
    assert stored.model_id == harness.bedrock_job("nova-math-2").output_model_arn


def test_throttling_is_retried_with_jitter(workflow):
    fake = FakeBedrock(job_statuses=[THROTTLE, THROTTLE, "InProgress", "Completed"], create_throttles=1)
    harness = workflow("bedrock", bedrock=fake)
    uri = upload(harness, "gsm8k/train.jsonl", dataset_lines(120))

    result = harness.run(job_request("nova-math-3", NOVA, uri, serve=False))

    assert result.status == "SUCCEEDED", result.cause
    throttled = [e["taskFailedEventDetails"]["error"] for e in result.events if e["type"] == "TaskFailed"]
    assert throttled == ["Bedrock.ThrottlingException"] * 3
    # Full jitter: each retry waits a random time up to the nominal 5 s, 10 s, ... backoff.
    assert len(harness.retry_sleeps) == 3
    nominal = [5, 5, 10]  # create: 1st retry; get: 1st and 2nd retries
    assert all(0 <= slept <= limit for slept, limit in zip(harness.retry_sleeps, nominal, strict=True))
    assert len(harness.sdk_calls_to("createModelCustomizationJob")) == 2
    assert record(harness, "nova-math-3").job_id == harness.bedrock_job("nova-math-3").job_arn


def test_the_watch_doubles_its_wait_up_to_the_cap(workflow):
    fake = FakeBedrock(job_statuses=["InProgress"] * 6 + ["Completed"])
    harness = workflow("bedrock", bedrock=fake, virtual_waits=True)
    uri = upload(harness, "gsm8k/train.jsonl", dataset_lines(120))

    request = job_request("nova-math-4", NOVA, uri, serve=False, first_wait_seconds=60, max_wait_seconds=300)
    result = harness.run(request)

    assert result.status == "SUCCEEDED", result.cause
    assert harness.waits == [60, 120, 240, 300, 300, 300, 300]
    assert result.path.count("Bedrock: cap the wait") == 1
    assert result.path.count("Bedrock: double the wait") == 3


def test_a_deployment_waits_until_active(workflow):
    fake = FakeBedrock(job_statuses=["Completed"], deployment_statuses=["Creating", "Creating", "Active"])
    harness = workflow("bedrock", bedrock=fake)
    uri = upload(harness, "gsm8k/train.jsonl", dataset_lines(120))

    result = harness.run(job_request("nova-math-5", NOVA, uri))

    assert result.status == "SUCCEEDED", result.cause
    assert result.path.count("Get deployment") == 3
    (create,) = harness.sdk_calls_to("createCustomModelDeployment")
    assert create["modelArn"] == harness.bedrock_job("nova-math-5").output_model_arn
    assert create["modelDeploymentName"] == "nova-math-5"
    assert create["clientRequestToken"].startswith("nova-math-5-deploy-")
    assert json.loads(json.dumps(record(harness, "nova-math-5").deployment_arn)).startswith(
        "arn:aws:bedrock:us-east-1:"
    )
