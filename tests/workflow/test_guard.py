"""The health guard in the synthesized workflow under moto: a run whose metrics go bad is stopped
and fails with the guard's findings as its cause; a healthy run completes untouched; a warning is
sent once however many looks see it; `training.auto_stop` false lets a bad run go on."""

from __future__ import annotations

from typing import Any

from tests.unit.rft.test_health import published, run
from tests.workflow.conftest import GPT_OSS, NOVA, job_request, on_mantle_status, synthesized, upload
from tests.workflow.offline import FakeBedrock, WorkflowHarness, dataset_lines

STEPS_PER_LOOK = 12


def mantle_run(harness, mantle_server, series: list[dict[str, Any]], *, finish_after: int):
    """A Mantle run that reports `STEPS_PER_LOOK` more steps of `series` at each status look and
    succeeds at look `finish_after` (unless stopped before)."""
    uri = upload(harness, "train.jsonl", dataset_lines(100))

    def progress(event: dict, look: int) -> None:
        job_id = event["job_id"]
        for step in series[(look - 1) * STEPS_PER_LOOK : look * STEPS_PER_LOOK]:
            mantle_server.add_metrics(job_id, **step)
        if mantle_server.jobs[job_id]["status"] == "cancelled":
            return
        if look == finish_after:
            mantle_server.set_job(job_id, status="succeeded", fine_tuned_model=f"ft:{GPT_OSS}:guarded")
        else:
            mantle_server.set_job(job_id, status="running")

    harness.before_invoke = on_mantle_status(progress)
    return harness, harness.run(job_request("guarded", GPT_OSS, uri))


def zero_reward(t: float) -> float:
    return 0.0


def test_guard_stops_a_mantle_run_whose_reward_stays_zero(mantle_harness, mantle_server):
    harness, result = mantle_run(mantle_harness, mantle_server, run(zero_reward, noise=0.0), finish_after=8)

    assert result.status == "FAILED"
    assert result.error == "TrainingUnhealthy"
    assert "stopped run guarded after 12 steps" in result.cause and "[reward_zero]" in result.cause
    assert result.path[-5:] == [
        "Mantle training healthy?",
        "Stop unhealthy Mantle job",
        "Training unhealthy",
        "Notify failure",
        "Failed",
    ]
    # Stopped at the first look that had enough steps: the job was cancelled, not trained to the end.
    (job,) = mantle_server.jobs.values()
    assert job["status"] == "cancelled"
    assert result.path.count("Get Mantle job") == 1
    (mail,) = harness.notifications()
    assert "TrainingUnhealthy" in mail["message"] and "reward_zero" in mail["message"]


def test_guard_lets_a_healthy_mantle_run_complete(mantle_harness, mantle_server):
    harness, result = mantle_run(mantle_harness, mantle_server, run(published), finish_after=6)

    assert result.status == "SUCCEEDED", result.cause
    looks = result.path.count("Check Mantle training health")
    assert looks == 5  # every look at a running job, none once it has succeeded
    assert "Notify Mantle training warning" not in result.path
    verdicts = [output["guard"]["verdict"] for output in result.outputs_of("Check Mantle training health")]
    assert verdicts == ["healthy"] * 5
    assert [output["guard"]["last_step"] for output in result.outputs_of("Check Mantle training health")] == [
        12,
        24,
        36,
        48,
        60,
    ]
    (mail,) = harness.notifications()
    assert mail["subject"] == "RFT model guarded is ready"


def test_guard_warns_once_however_many_looks_see_it(mantle_harness, mantle_server):
    flat = run(lambda t: 0.4, noise=0.01, steps=100)
    harness, result = mantle_run(mantle_harness, mantle_server, flat, finish_after=7)

    assert result.status == "SUCCEEDED", result.cause
    assert result.path.count("Notify Mantle training warning") == 1
    warnings = [m for m in harness.notifications() if "health warning" in m["subject"]]
    (warning,) = warnings
    assert "[no_learning]" in warning["message"]
    last = result.outputs_of("Check Mantle training health")[-1]["guard"]
    assert last["sent"] == ["no_learning"] and last["verdict"] == "warn"


def bedrock_metrics_writer(harness: WorkflowHarness, series: list[dict[str, Any]]):
    """Bedrock's side: at each guard look, the job's metrics CSV (rft.assumptions) grows."""
    looks: list[int] = []

    def write(logical_id: str, event: dict) -> None:
        if not logical_id.startswith("Guard"):
            return
        looks.append(1)
        rows = series[: len(looks) * STEPS_PER_LOOK]
        body = "step_number,mean_reward,entropy\n" + "".join(
            f"{r['step']},{r['critic_rewards_mean']},{r['actor_entropy']}\n" for r in rows
        )
        bucket, _, prefix = event["plan"]["output_s3_uri"][len("s3://") :].partition("/")
        job = event["job_id"].rsplit("/", 1)[-1]
        key = f"{prefix}{job}/training_artifacts/step_wise_training_metrics.csv"
        harness.client("s3").put_object(Bucket=bucket, Key=key, Body=body.encode())

    return write


def test_guard_stops_a_bedrock_job_whose_reward_stays_zero(workflow):
    harness = workflow("bedrock", bedrock=FakeBedrock(job_statuses=["InProgress"] * 5 + ["Completed"]))
    harness.before_invoke = bedrock_metrics_writer(harness, run(zero_reward, noise=0.0))
    uri = upload(harness, "train.jsonl", dataset_lines(120))

    result = harness.run(job_request("nova-guarded", NOVA, uri))

    assert result.status == "FAILED" and result.error == "TrainingUnhealthy", result.cause
    assert "[reward_zero]" in result.cause
    assert "Stop unhealthy Bedrock job" in result.path and "Create deployment" not in result.path
    (stop,) = harness.sdk_calls_to("stopModelCustomizationJob")
    assert stop["jobIdentifier"].endswith(harness.bedrock_job("nova-guarded").job_arn.rsplit("/", 1)[-1])


def test_guard_without_auto_stop_notifies_and_lets_the_run_go_on(monkeypatch):
    templates, region, training = synthesized("bedrock", auto_stop=False)
    bedrock = FakeBedrock(job_statuses=["InProgress"] * 3 + ["Completed"])
    with WorkflowHarness(templates, region=region, training_stack=training, bedrock=bedrock) as harness:
        harness.before_invoke = bedrock_metrics_writer(harness, run(zero_reward, noise=0.0))
        uri = upload(harness, "train.jsonl", dataset_lines(120))
        result = harness.run(job_request("nova-unguarded", NOVA, uri))

        assert result.status == "SUCCEEDED", result.cause
        assert "Stop unhealthy Bedrock job" not in result.path
        assert result.path.count("Notify Bedrock training warning") == 1
        (warning,) = [m for m in harness.notifications() if "health warning" in m["subject"]]
        assert "training.auto_stop is false" in warning["message"]
        assert harness.sdk_calls_to("stopModelCustomizationJob") == []
